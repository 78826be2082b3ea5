import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoginItemSettings, Settings } from 'electron';
import { afterAll, describe, expect, it } from 'vitest';
import {
  autostartEntry,
  autostartEntryPath,
  execArg,
  isLoginItemEnabled,
  loginCommand,
  loginItemSupported,
  setLoginItem,
  startsHidden,
  type LoginItemApp,
  type LoginItemContext,
} from './login-item.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function tempHome(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vli-'));
  roots.push(root);
  return root;
}

/** Electron's login items as macOS keeps them, for the calls login-item.ts makes. */
class FakeLoginItemsApp implements LoginItemApp {
  calls: Settings[] = [];
  #open = false;
  setLoginItemSettings(settings: Settings): void {
    this.calls.push(settings);
    this.#open = !!settings.openAtLogin;
  }
  getLoginItemSettings(): LoginItemSettings {
    return {
      openAtLogin: this.#open,
      openAsHidden: false,
      wasOpenedAtLogin: false,
      wasOpenedAsHidden: false,
      restoreState: false,
      status: this.#open ? 'enabled' : 'not-registered',
      executableWillLaunchAtLogin: this.#open,
      launchItems: [],
    };
  }
}

function linuxCtx(env: NodeJS.ProcessEnv, command: string[], home = tempHome()): LoginItemContext {
  return { platform: 'linux', env, command, app: new FakeLoginItemsApp(), home };
}

describe('login item on Linux (XDG autostart entry)', () => {
  it('is off by default: no entry', () => {
    const config = tempHome();
    expect(isLoginItemEnabled(linuxCtx({ XDG_CONFIG_HOME: config }, ['/opt/vmdesk/vmdesk']))).toBe(false);
    expect(fs.existsSync(path.join(config, 'autostart'))).toBe(false);
  });

  it('writes $XDG_CONFIG_HOME/autostart/vmdesk.desktop starting the AppImage with --hidden, and removes it when off', () => {
    const config = tempHome();
    const env = { XDG_CONFIG_HOME: config, APPIMAGE: '/home/u/Apps/vmdesk-1.0.AppImage' };
    const command = loginCommand({ env, execPath: '/tmp/.mount_vmdeskX/vmdesk', isPackaged: true, appPath: '/x' });
    const ctx = linuxCtx(env, command);
    setLoginItem(true, ctx);
    const file = path.join(config, 'autostart', 'vmdesk.desktop');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('[Desktop Entry]\nType=Application\n');
    expect(text).toContain('\nExec=/home/u/Apps/vmdesk-1.0.AppImage --hidden\n');
    expect(text).toContain('\nX-GNOME-Autostart-enabled=true\n');
    expect(isLoginItemEnabled(ctx)).toBe(true);
    setLoginItem(true, ctx); // again: still one entry, same text
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
    setLoginItem(false, ctx);
    expect(fs.existsSync(file)).toBe(false);
    expect(isLoginItemEnabled(ctx)).toBe(false);
    setLoginItem(false, ctx); // off when already off: nothing to do, no error
  });

  it('uses ~/.config when XDG_CONFIG_HOME is unset or relative', () => {
    const home = tempHome();
    expect(autostartEntryPath({}, home)).toBe(path.join(home, '.config', 'autostart', 'vmdesk.desktop'));
    expect(autostartEntryPath({ XDG_CONFIG_HOME: 'rel/dir' }, home)).toBe(
      path.join(home, '.config', 'autostart', 'vmdesk.desktop'),
    );
    const ctx = linuxCtx({}, ['/usr/bin/vmdesk'], home);
    setLoginItem(true, ctx);
    expect(fs.readFileSync(autostartEntryPath({}, home), 'utf8')).toContain('\nExec=/usr/bin/vmdesk --hidden\n');
  });

  it('starts the installed executable, or electron with the app folder for an unpackaged run', () => {
    expect(loginCommand({ env: {}, execPath: '/usr/lib/vmdesk/vmdesk', isPackaged: true, appPath: '/a' })).toEqual([
      '/usr/lib/vmdesk/vmdesk',
    ]);
    expect(loginCommand({ env: {}, execPath: '/n/electron', isPackaged: false, appPath: '/src/vmdesk' })).toEqual([
      '/n/electron',
      '/src/vmdesk',
    ]);
  });

  it('quotes and escapes an executable path with spaces, quotes, dollars, backslashes and percents', () => {
    expect(execArg('/opt/My Apps/vmdesk')).toBe('"/opt/My Apps/vmdesk"');
    expect(execArg('/opt/a$b"c')).toBe('"/opt/a\\\\$b\\\\"c"');
    expect(execArg('/opt/100%/vmdesk')).toBe('/opt/100%%/vmdesk');
    expect(autostartEntry(['/opt/My Apps/vmdesk'])).toContain('\nExec="/opt/My Apps/vmdesk" --hidden\n');
  });

  it('reads an entry the desktop switched off (Hidden=true or X-GNOME-Autostart-enabled=false) as off', () => {
    const config = tempHome();
    const ctx = linuxCtx({ XDG_CONFIG_HOME: config }, ['/usr/bin/vmdesk']);
    setLoginItem(true, ctx);
    const file = autostartEntryPath(ctx.env);
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.replace('X-GNOME-Autostart-enabled=true', 'X-GNOME-Autostart-enabled=false'));
    expect(isLoginItemEnabled(ctx)).toBe(false);
    fs.writeFileSync(file, text + 'Hidden=true\n');
    expect(isLoginItemEnabled(ctx)).toBe(false);
    fs.writeFileSync(file, text);
    expect(isLoginItemEnabled(ctx)).toBe(true);
  });

  it('says which file it could not write, and what to do', () => {
    const config = tempHome();
    fs.writeFileSync(path.join(config, 'autostart'), 'a file where the folder should be');
    const ctx = linuxCtx({ XDG_CONFIG_HOME: config }, ['/usr/bin/vmdesk']);
    expect(() => setLoginItem(true, ctx)).toThrow(
      /vmdesk could not write its login entry .*autostart\/vmdesk\.desktop: .*Check that the folder is yours and writable/,
    );
  });
});

describe('login item on macOS (Electron login items)', () => {
  it('sets openAtLogin and openAsHidden through app.setLoginItemSettings and reads it back', () => {
    const app = new FakeLoginItemsApp();
    const home = tempHome();
    const ctx: LoginItemContext = { platform: 'darwin', env: { XDG_CONFIG_HOME: home }, command: ['/x'], app, home };
    expect(isLoginItemEnabled(ctx)).toBe(false);
    setLoginItem(true, ctx);
    expect(app.calls).toEqual([{ openAtLogin: true, openAsHidden: true }]);
    expect(isLoginItemEnabled(ctx)).toBe(true);
    setLoginItem(false, ctx);
    expect(app.calls.at(-1)).toEqual({ openAtLogin: false, openAsHidden: false });
    expect(isLoginItemEnabled(ctx)).toBe(false);
    // No XDG entry on macOS.
    expect(fs.existsSync(path.join(home, 'autostart'))).toBe(false);
  });
});

describe('elsewhere', () => {
  it('is not offered, and setting it does nothing', () => {
    expect(loginItemSupported('linux')).toBe(true);
    expect(loginItemSupported('darwin')).toBe(true);
    expect(loginItemSupported('win32')).toBe(false);
    const app = new FakeLoginItemsApp();
    const ctx: LoginItemContext = { platform: 'win32', env: {}, command: ['/x'], app, home: tempHome() };
    setLoginItem(true, ctx);
    expect(app.calls).toEqual([]);
    expect(isLoginItemEnabled(ctx)).toBe(false);
  });
});

describe('startsHidden', () => {
  it('is true with --hidden, or a macOS start by the login items', () => {
    expect(startsHidden(['/usr/bin/vmdesk'])).toBe(false);
    expect(startsHidden(['/usr/bin/vmdesk', '--hidden'])).toBe(true);
    expect(startsHidden(['/n/electron', '/src/vmdesk', '--hidden'])).toBe(true);
    expect(startsHidden(['/x', '--hidden-files'])).toBe(false);
    expect(startsHidden(['/x'], { wasOpenedAtLogin: true })).toBe(true);
    expect(startsHidden(['/x'], { wasOpenedAtLogin: false, wasOpenedAsHidden: false })).toBe(false);
  });
});
