import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP_CSP, appResponse, isPermissionAllowed, navigationDecision, pickDialogOptions } from './window-policy.js';

let root: string;
let outside: string;
beforeEach(() => {
  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-policy-')));
  root = path.join(tmp, 'renderer');
  outside = path.join(tmp, 'secret.txt');
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html>');
  fs.writeFileSync(path.join(root, 'app.js'), 'export {};');
  fs.writeFileSync(outside, 'secret');
  fs.symlinkSync(outside, path.join(root, 'assets', 'link.txt'));
});
afterEach(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));

const get = (url: string, method = 'GET') => appResponse(root, { url, method });

describe('appResponse', () => {
  it('serves index.html for / and files with their type, every response with the CSP', async () => {
    const index = await get('app://vmdesk/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('content-security-policy')).toBe(APP_CSP);
    const js = await get('app://vmdesk/app.js?v=1');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toBe('export {};');
    const missing = await get('app://vmdesk/nope.js');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-security-policy')).toBe(APP_CSP);
  });

  it('never leaves the renderer directory', async () => {
    for (const url of [
      'app://vmdesk/%2e%2e/secret.txt',
      'app://vmdesk/..%2fsecret.txt',
      'app://vmdesk/assets/link.txt',
      'app://vmdesk/%00index.html',
      'app://other/index.html',
    ]) {
      expect((await get(url)).status, url).toBe(404);
    }
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const head = await get('app://vmdesk/index.html', 'HEAD');
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await get('app://vmdesk/index.html', 'POST')).status).toBe(405);
  });
});

describe('APP_CSP', () => {
  it('allows only our own scripts: no inline, no eval, no remote hosts', () => {
    expect(APP_CSP).toContain("script-src 'self'");
    expect(APP_CSP).not.toMatch(/unsafe-eval|https?:|\*/);
    expect(APP_CSP).toContain("default-src 'none'");
  });
});

describe('navigationDecision', () => {
  it('allows our pages, opens web links externally, drops everything else', () => {
    expect(navigationDecision('app://vmdesk/index.html')).toBe('allow');
    expect(navigationDecision('https://www.qemu.org/')).toBe('external');
    expect(navigationDecision('http://localhost:8080/')).toBe('external');
    expect(navigationDecision('file:///etc/passwd')).toBe('deny');
    expect(navigationDecision('app://vmdesk.evil/index.html')).toBe('deny');
    expect(navigationDecision('app://user@vmdesk/index.html')).toBe('deny');
    expect(navigationDecision('not a url')).toBe('deny');
  });
});

describe('isPermissionAllowed', () => {
  it('allows the clipboard (sanitized writes, reads) and fullscreen to our origin only', () => {
    expect(isPermissionAllowed('clipboard-sanitized-write', 'app://vmdesk')).toBe(true);
    expect(isPermissionAllowed('clipboard-read', 'app://vmdesk')).toBe(true);
    expect(isPermissionAllowed('clipboard-read', 'https://evil.example')).toBe(false);
    expect(isPermissionAllowed('fullscreen', 'app://vmdesk/index.html')).toBe(true);
    expect(isPermissionAllowed('media', 'app://vmdesk')).toBe(false);
    expect(isPermissionAllowed('fullscreen', undefined)).toBe(false);
  });
});

describe('pickDialogOptions', () => {
  it('filters ISOs and disk images, with an escape hatch to all files', () => {
    expect(pickDialogOptions('iso').filters[0]).toEqual({ name: 'Disk images (ISO)', extensions: ['iso'] });
    expect(pickDialogOptions('disk').filters[0]?.extensions).toEqual(['qcow2', 'img', 'raw']);
    expect(pickDialogOptions('disk').filters.at(-1)).toEqual({ name: 'All files', extensions: ['*'] });
  });
});
