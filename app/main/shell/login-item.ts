/**
 * "Start vmdesk at login" (off by default): vmdesk then starts in the tray, without its window.
 *
 * Linux: Electron's `app.setLoginItemSettings` does nothing there, so this writes (and removes) an
 * XDG autostart entry, `$XDG_CONFIG_HOME/autostart/vmdesk.desktop` (freedesktop.org Desktop
 * Application Autostart Specification), whose Exec is the app's executable — the AppImage itself
 * (`$APPIMAGE`) when run from one, as the mounted copy's path changes at every run — with
 * `--hidden`.
 * macOS: the system's login items through `app.setLoginItemSettings` (`openAsHidden` is honoured
 * before macOS 13 only; later, a start at login is told apart by `wasOpenedAtLogin`).
 * Elsewhere: not offered (`loginItemSupported`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { App, LoginItemSettings } from 'electron';
import { writeFileAtomic } from '../vm/atomic-file.js';

/** The argument that means "start in the tray without showing the window". */
export const HIDDEN_ARG = '--hidden';

/** What the macOS path needs of Electron's `app` (a typed fake in tests). */
export type LoginItemApp = Pick<App, 'setLoginItemSettings' | 'getLoginItemSettings'>;

export interface LoginItemContext {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** The command that starts vmdesk, without `--hidden` (see `loginCommand`). */
  command: readonly string[];
  app: LoginItemApp;
  /** For `~/.config` when XDG_CONFIG_HOME is unset (default: os.homedir()). */
  home?: string;
}

export function loginItemSupported(platform: NodeJS.Platform): boolean {
  return platform === 'linux' || platform === 'darwin';
}

/**
 * The command that starts this vmdesk: the AppImage file when run from one; else the executable,
 * and for an unpackaged app (a development run) the app's folder after it.
 */
export function loginCommand(o: {
  env: NodeJS.ProcessEnv;
  execPath: string;
  isPackaged: boolean;
  appPath: string;
}): string[] {
  if (o.env.APPIMAGE) return [o.env.APPIMAGE];
  return o.isPackaged ? [o.execPath] : [o.execPath, o.appPath];
}

/** `$XDG_CONFIG_HOME/autostart/vmdesk.desktop` (a relative XDG_CONFIG_HOME is ignored, as the
 * spec says). */
export function autostartEntryPath(env: NodeJS.ProcessEnv, home: string = os.homedir()): string {
  const base =
    env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(home, '.config');
  return path.join(base, 'autostart', 'vmdesk.desktop');
}

/**
 * One argument of a desktop entry's Exec key: quoted when it holds a reserved character (quotes,
 * then `"`, `` ` ``, `$` and `\` backslash-escaped inside), `%` doubled; then the whole value's
 * backslashes doubled, as in every string value of the file (Desktop Entry Specification, "The
 * Exec key").
 */
export function execArg(arg: string): string {
  const reserved = /[\s"'\\><~|&;$*?#()`]/.test(arg) || arg === '';
  const field = reserved ? `"${arg.replace(/(["`$\\])/g, '\\$1')}"` : arg;
  return field.replace(/%/g, '%%').replace(/\\/g, '\\\\');
}

/** The autostart entry for `command` (started with `--hidden`). */
export function autostartEntry(command: readonly string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=vmdesk',
    'Comment=Virtual machines on QEMU, started in the tray at login',
    `Exec=${[...command, HIDDEN_ARG].map(execArg).join(' ')}`,
    'Icon=vmdesk',
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** Turns the login item on or off. Throws (with the file) when the entry cannot be written. */
export function setLoginItem(enabled: boolean, ctx: LoginItemContext): void {
  if (ctx.platform === 'darwin') {
    ctx.app.setLoginItemSettings({ openAtLogin: enabled, openAsHidden: enabled });
    return;
  }
  if (ctx.platform !== 'linux') return;
  const file = autostartEntryPath(ctx.env, ctx.home);
  if (!enabled) {
    fs.rmSync(file, { force: true });
    return;
  }
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, autostartEntry(ctx.command), 0o644);
  } catch (err) {
    throw new Error(
      `vmdesk could not write its login entry ${file}: ${(err as Error).message}. Check that the folder is yours and writable, then try again.`,
    );
  }
}

/**
 * Whether vmdesk starts at login. Linux: our entry is there and not switched off by the desktop's
 * settings (`Hidden=true`, `X-GNOME-Autostart-enabled=false`, which session managers write when
 * the user turns it off there).
 */
export function isLoginItemEnabled(ctx: LoginItemContext): boolean {
  if (ctx.platform === 'darwin') return ctx.app.getLoginItemSettings().openAtLogin;
  if (ctx.platform !== 'linux') return false;
  let text: string;
  try {
    text = fs.readFileSync(autostartEntryPath(ctx.env, ctx.home), 'utf8');
  } catch {
    return false;
  }
  const key = (name: string) => new RegExp(`^${name}\\s*=\\s*(\\S*)\\s*$`, 'm').exec(text)?.[1];
  return key('Hidden') !== 'true' && key('X-GNOME-Autostart-enabled') !== 'false';
}

/**
 * Whether this start shows no window (only the tray): `--hidden` (our Linux login entry), or on
 * macOS a start by the login items (`wasOpenedAtLogin`; `wasOpenedAsHidden` before macOS 13).
 */
export function startsHidden(
  argv: readonly string[],
  macLogin?: Partial<Pick<LoginItemSettings, 'wasOpenedAtLogin' | 'wasOpenedAsHidden'>>,
): boolean {
  return argv.includes(HIDDEN_ARG) || !!macLogin?.wasOpenedAtLogin || !!macLogin?.wasOpenedAsHidden;
}
