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
}

/**
 * Where the keyboard focus is: `text` a field one types in (Delete deletes a character there),
 * `console` the VM's screen or serial terminal (its keys are the guest's), `dialog` inside an
 * open modal dialog (the page behind it is inert), `page` anywhere else.
 */
export type FocusPlace = 'text' | 'console' | 'dialog' | 'page';

/**
 * The command a key asks for, or null (then the key is left alone). Ctrl on Linux and Windows is
 * Cmd on macOS, as the menu's CmdOrCtrl. Only F11 reaches into the console: it is how one gets
 * the guest's screen full screen, and no guest needs F11 more than its user needs a way out.
 */
export function shortcutCommand(e: KeyLike, where: FocusPlace, mac: boolean): AppCommand | null {
  const mod = mac ? e.metaKey && !e.ctrlKey : e.ctrlKey && !e.metaKey;
  const plain = !e.ctrlKey && !e.metaKey && !e.altKey && !e.shiftKey;
  if (e.key === 'F11' && plain && where !== 'dialog') return 'fullscreen';
  if (where !== 'page') return null;
  if (mod && !e.altKey && !e.shiftKey) {
    const k = e.key.toLowerCase();
    if (k === 'n') return 'newVm';
    if (k === 'o') return 'createFromIso';
    // Finder's Move to Trash: a Mac keyboard's "delete" key is Backspace.
    if (mac && e.key === 'Backspace') return 'delete';
  }
  if (e.key === 'Delete' && plain) return 'delete';
  return null;
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

/** "Ctrl+N", or "⌘N" on a Mac: for tooltips. */
export function modKeyLabel(key: string, mac = isMacPlatform()): string {
  return mac ? `⌘${key}` : `Ctrl+${key}`;
}
