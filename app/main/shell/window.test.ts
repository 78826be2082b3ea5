import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { APP_URL } from './channels.js';
import { fake, FakeBrowserWindow, resetFakeElectron } from './testing/fake-electron.js';
import { applySessionPolicy, createMainWindow, registerAppScheme, serveApp } from './window.js';
import type Electron from 'electron';

vi.mock('electron', async () => (await import('./testing/fake-electron.js')).fakeElectronModule);

let tmp: string;
beforeEach(() => {
  resetFakeElectron();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-window-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function newWindow(): FakeBrowserWindow {
  createMainWindow({ preload: '/app/dist/shell/preload.cjs', bounds: { width: 1000, height: 700 } });
  const w = FakeBrowserWindow.instances[0];
  if (!w) throw new Error('no window');
  return w;
}

describe('createMainWindow', () => {
  it('isolates the page: context isolation, sandbox, no Node, web security, our preload', () => {
    const prefs = newWindow().options.webPreferences;
    expect(prefs).toMatchObject({
      preload: '/app/dist/shell/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      webviewTag: false,
    });
  });

  it('shows the window once the page is ready, not before', async () => {
    const w = newWindow();
    expect(w.visible).toBe(false);
    await w.loadURL(APP_URL);
    expect(w.visible).toBe(true);
  });

  it('keeps navigation inside app:// and sends http(s) links to the browser', () => {
    const wc = newWindow().webContents;
    expect(wc.navigate('app://vmdesk/index.html#/vm/1')).toBe(true);
    expect(wc.navigate('https://example.com/docs')).toBe(false);
    expect(wc.navigate('file:///etc/passwd')).toBe(false);
    expect(wc.navigate('app://elsewhere/index.html')).toBe(false);
    expect(wc.navigate('https://evil.example/', 'will-redirect')).toBe(false);
    expect(fake.openedExternal).toEqual(['https://example.com/docs', 'https://evil.example/']);
  });

  it('denies every new window, opening only http(s) links externally', () => {
    const open = newWindow().webContents.windowOpenHandler;
    const details = (url: string): Electron.HandlerDetails => ({
      url,
      frameName: '',
      features: '',
      disposition: 'new-window',
      referrer: { url: '', policy: 'no-referrer' },
    });
    expect(open?.(details('https://qemu.org/'))).toEqual({ action: 'deny' });
    expect(open?.(details('javascript:alert(1)'))).toEqual({ action: 'deny' });
    expect(open?.(details('app://vmdesk/index.html'))).toEqual({ action: 'deny' });
    expect(fake.openedExternal).toEqual(['https://qemu.org/']);
  });

  it('refuses webviews', () => {
    const wc = newWindow().webContents;
    const e = {
      defaultPrevented: false,
      preventDefault() {
        this.defaultPrevented = true;
      },
    };
    wc.emit('will-attach-webview', e);
    expect(e.defaultPrevented).toBe(true);
  });
});

describe('the app:// scheme', () => {
  it('is registered as standard and secure (a real origin, ES modules, fetch)', () => {
    registerAppScheme();
    expect(fake.privilegedSchemes).toEqual([
      { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } },
    ]);
  });

  it('serves the built renderer with the Content-Security-Policy header', async () => {
    fs.writeFileSync(path.join(tmp, 'index.html'), '<!doctype html><title>vmdesk</title>');
    serveApp(tmp);
    const handler = fake.protocolHandlers.get('app');
    const res = await handler!(new Request(APP_URL));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>vmdesk</title>');
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-src 'none'; frame-ancestors 'none'; object-src 'none'",
    );
  });
});

describe('permissions', () => {
  it('grants only the clipboard (sanitized writes, reads) and fullscreen, and only to our page', () => {
    applySessionPolicy(fake.session);
    const check = fake.session.checkHandler!;
    const main: Electron.PermissionCheckHandlerHandlerDetails = { isMainFrame: true };
    expect(check(null, 'clipboard-sanitized-write', 'app://vmdesk', main)).toBe(true);
    expect(check(null, 'fullscreen', 'app://vmdesk', main)).toBe(true);
    expect(check(null, 'clipboard-read', 'app://vmdesk', main)).toBe(true);
    expect(check(null, 'clipboard-read', 'https://evil.example', main)).toBe(false);
    expect(check(null, 'fullscreen', 'https://evil.example', main)).toBe(false);

    // The handler ignores its webContents argument, which a fake cannot be.
    const request = (permission: 'media' | 'fullscreen' | 'notifications' | 'clipboard-read', url: string) => {
      let granted: boolean | undefined;
      fake.session.requestHandler!(
        null as never,
        permission,
        (g) => {
          granted = g;
        },
        { requestingUrl: url, isMainFrame: true },
      );
      return granted;
    };
    expect(request('fullscreen', APP_URL)).toBe(true);
    expect(request('clipboard-read', APP_URL)).toBe(true);
    expect(request('clipboard-read', 'https://evil.example')).toBe(false);
    expect(request('media', APP_URL)).toBe(false);
    expect(request('notifications', APP_URL)).toBe(false);
  });
});
