/**
 * Keys sent to a guest over VNC, as pairs of an X11 keysym and a DOM `KeyboardEvent.code`. QEMU
 * takes the code (noVNC turns it into the PC scancode of QEMU's extended key event) and ignores
 * the keysym when the code is known, so what the guest sees is a key *position*: the guest's own
 * keyboard layout decides which character it makes. Typing text therefore assumes the guest uses
 * a US layout, like virt-manager's and UTM's "type" features.
 */

export interface Key {
  /** X11 keysym (keysymdef.h), used by a VNC server without QEMU's extended key events. */
  keysym: number;
  /** DOM KeyboardEvent.code of the key on a US PC keyboard. */
  code: string;
}

export const KEY = {
  shift: { keysym: 0xffe1, code: 'ShiftLeft' },
  ctrl: { keysym: 0xffe3, code: 'ControlLeft' },
  ctrlRight: { keysym: 0xffe4, code: 'ControlRight' },
  alt: { keysym: 0xffe9, code: 'AltLeft' },
  altRight: { keysym: 0xffea, code: 'AltRight' },
  enter: { keysym: 0xff0d, code: 'Enter' },
  tab: { keysym: 0xff09, code: 'Tab' },
  backspace: { keysym: 0xff08, code: 'Backspace' },
  delete: { keysym: 0xffff, code: 'Delete' },
  printScreen: { keysym: 0xff61, code: 'PrintScreen' },
  // Alt + the PrintScreen key is SysRq on a PC keyboard (QEMU's PS/2 model sends scancode 0x54
  // for it while Alt is down); the keysym is X11's name for that combination.
  sysRq: { keysym: 0xff15, code: 'PrintScreen' },
} as const satisfies Record<string, Key>;

/** F1…F12 (keysyms XK_F1 0xffbe … XK_F12 0xffc9). */
export const functionKey = (n: number): Key => {
  if (!Number.isInteger(n) || n < 1 || n > 12) throw new RangeError(`no function key F${n}`);
  return { keysym: 0xffbe + n - 1, code: `F${n}` };
};

/** One combination of the special keys menu: `keys` go down in order and up in reverse. */
export interface SpecialKey {
  id: string;
  label: string;
  keys: readonly Key[];
}

export const SPECIAL_KEYS = {
  ctrlAltDel: { id: 'ctrl-alt-del', label: 'Ctrl+Alt+Del', keys: [KEY.ctrl, KEY.alt, KEY.delete] },
  ctrlAltBackspace: {
    id: 'ctrl-alt-backspace',
    label: 'Ctrl+Alt+Backspace',
    keys: [KEY.ctrl, KEY.alt, KEY.backspace],
  },
  printScreen: { id: 'print-screen', label: 'PrintScreen', keys: [KEY.printScreen] },
  sysRq: { id: 'alt-sysrq', label: 'Alt+SysRq', keys: [KEY.alt, KEY.sysRq] },
} as const satisfies Record<string, SpecialKey>;

/** Ctrl+Alt+F1 … Ctrl+Alt+F12: on Linux, switch to virtual console N. */
export const CTRL_ALT_FN: readonly SpecialKey[] = Array.from({ length: 12 }, (_, i) => ({
  id: `ctrl-alt-f${i + 1}`,
  label: `Ctrl+Alt+F${i + 1}`,
  keys: [KEY.ctrl, KEY.alt, functionKey(i + 1)],
}));

/** The key events of a combination: every key down in order, then up in reverse order. */
export function comboEvents(keys: readonly Key[]): { key: Key; down: boolean }[] {
  return [...keys.map((key) => ({ key, down: true })), ...[...keys].reverse().map((key) => ({ key, down: false }))];
}

/**
 * The shortcut that gives the keyboard back to the page while the screen has it: the modifiers
 * of virt-manager's and GNOME Boxes' default (Ctrl+Alt), which no guest needs with G.
 */
export const RELEASE_SHORTCUT = { label: 'Ctrl+Alt+G', code: 'KeyG' } as const;

export function isReleaseShortcut(e: Pick<KeyboardEvent, 'ctrlKey' | 'altKey' | 'metaKey' | 'code'>): boolean {
  return e.ctrlKey && e.altKey && !e.metaKey && e.code === RELEASE_SHORTCUT.code;
}

/** Modifiers that may be down when the keyboard is released: let go of them in the guest. */
export const RELEASE_ON_UNGRAB: readonly Key[] = [KEY.ctrl, KEY.ctrlRight, KEY.alt, KEY.altRight, KEY.shift];
