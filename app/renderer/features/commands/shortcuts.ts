/**
 * The app's keyboard shortcuts, as a pure function of the key and where the focus is. The page
 * handles them in every mode (the Electron menu only shows them: see app/main/shell/app-menu.ts),
 * because only the page knows whether a key belongs to a text field or to the VM's screen.
 */
import type { AppCommand } from '../../../main/common/api.js';

/** The parts of a KeyboardEvent a shortcut depends on. */
export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
  /** The physical key ("KeyN"), whatever the layout types with it. */
  code?: string;
}

/**
 * Where the keyboard focus is: `text` a field one types in (Delete deletes a character there),
 * `console` the VM's screen or serial terminal (its keys are the guest's), `dialog` inside an
 * open modal dialog (the page behind it is inert), `page` anywhere else.
 */
export type FocusPlace = 'text' | 'console' | 'dialog' | 'page';

/** Which page: the Electron window (it has the app menu) or a browser tab (`vmdesk web`). */
export interface KeyMode {
  /** Cmd in place of Ctrl, as the menu's CmdOrCtrl. */
  mac: boolean;
  /**
   * A browser tab: Ctrl+N (Cmd+N) never reaches a page there (Chrome reserves it for a new
   * window, BrowserCommandController::IsReservedCommandOrKey; Firefox too), so New VM is Alt+N
   * (Option+N on a Mac), a chord no browser takes.
   */
  web: boolean;
}

/**
 * The letter a chord names: `e.key` when it is a Latin letter (the layout's own: Ctrl+N on
 * AZERTY or Dvorak is the key that types "n"), else the physical key's (`e.code` KeyN), so a
 * Russian layout's Ctrl+т is Ctrl+N, and a Mac's Option+N (a dead key) is Alt+N.
 */
function chordLetter(e: KeyLike): string | null {
  if (/^[a-z]$/i.test(e.key)) return e.key.toLowerCase();
  const m = /^Key([A-Z])$/.exec(e.code ?? '');
  return m ? m[1]!.toLowerCase() : null;
}

/**
 * The page's chord for a command, wherever the focus is (`shortcutCommand` then says whether the
 * page acts on it there): Ctrl+N / Ctrl+O (Cmd on macOS; New VM is Alt+N in a browser), Delete
 * (Cmd+Backspace on macOS), F11.
 */
export function shortcutChord(e: KeyLike, mode: KeyMode): AppCommand | null {
  const { mac, web } = mode;
  const mod = mac ? e.metaKey && !e.ctrlKey : e.ctrlKey && !e.metaKey;
  const plain = !e.ctrlKey && !e.metaKey && !e.altKey && !e.shiftKey;
  if (e.key === 'F11' && plain) return 'fullscreen';
  if (mod && !e.altKey && !e.shiftKey) {
    const k = chordLetter(e);
    if (k === 'n' && !web) return 'newVm';
    if (k === 'o') return 'createFromIso';
    // Finder's Move to Trash: a Mac keyboard's "delete" key is Backspace.
    if (mac && e.key === 'Backspace') return 'delete';
  }
  if (web && e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey && chordLetter(e) === 'n') return 'newVm';
  if (e.key === 'Delete' && plain) return 'delete';
  return null;
}

/**
 * The command a key asks for where the focus is, or null (then the key is left alone). Only F11
 * reaches into the console: it is how one gets the guest's screen full screen, and no guest
 * needs F11 more than its user needs a way out. `mode` may be a boolean: macOS, in the Electron
 * window.
 */
export function shortcutCommand(e: KeyLike, where: FocusPlace, mode: KeyMode | boolean): AppCommand | null {
  const command = shortcutChord(e, typeof mode === 'boolean' ? { mac: mode, web: false } : mode);
  if (command === 'fullscreen') return where === 'dialog' ? null : command;
  return where === 'page' ? command : null;
}

/** The slice of an Element `focusPlace` reads (kept small so it is testable without a DOM). */
export interface ElementLike {
  tagName: string;
  isContentEditable?: boolean;
  closest(selector: string): unknown;
  getAttribute?(name: string): string | null;
}

/** Inputs that take typed text (a checkbox or a button does not: Delete there is the app's). */
const TEXT_INPUTS = new Set([
  'text',
  'search',
  'email',
  'url',
  'tel',
  'password',
  'number',
  'date',
  'time',
  'datetime-local',
  'month',
  'week',
]);

/** The consoles: noVNC's screen and xterm's terminal (its keys go to a hidden textarea inside). */
export const CONSOLE_SELECTOR = '[data-testid="vnc-screen"], [data-testid="serial-terminal"], .xterm';

export function focusPlace(target: ElementLike | null, modalOpen: boolean): FocusPlace {
  if (modalOpen) return 'dialog';
  if (target?.closest(CONSOLE_SELECTOR)) return 'console';
  const tag = target?.tagName.toUpperCase();
  if (
    target &&
    (tag === 'TEXTAREA' ||
      tag === 'SELECT' ||
      target.isContentEditable ||
      (tag === 'INPUT' && TEXT_INPUTS.has((target.getAttribute?.('type') ?? 'text').toLowerCase())))
  )
    return 'text';
  return 'page';
}

/** Whether this page runs on a Mac (Cmd in place of Ctrl). */
export function isMacPlatform(nav: { platform?: string; userAgent?: string } = navigator): boolean {
  return /Mac|iPhone|iPad/.test(nav.platform || nav.userAgent || '');
}

/** This page's mode: macOS or not, Electron window or browser tab. */
export function currentKeyMode(): KeyMode {
  return { mac: isMacPlatform(), web: typeof window === 'undefined' || !window.vmdeskShell };
}

/** The shortcut of a command as this page takes it ("Ctrl+N", "⌘N", "Alt+N", "⌥N"): for tooltips. */
export function shortcutLabel(command: 'newVm' | 'createFromIso', mode: KeyMode = currentKeyMode()): string {
  if (command === 'newVm' && mode.web) return mode.mac ? '⌥N' : 'Alt+N';
  const key = command === 'newVm' ? 'N' : 'O';
  return mode.mac ? `⌘${key}` : `Ctrl+${key}`;
}

/**
 * The page's shortcut on a letter, for tooltips: "Ctrl+N" ("⌘N" on a Mac), but New VM is
 * "Alt+N" in a browser (see KeyMode). Prefer shortcutLabel, which names the command.
 */
export function modKeyLabel(key: 'N' | 'O', mode: KeyMode = currentKeyMode()): string {
  return shortcutLabel(key === 'N' ? 'newVm' : 'createFromIso', mode);
}
