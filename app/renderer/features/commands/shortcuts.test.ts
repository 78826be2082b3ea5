import { describe, expect, it } from 'vitest';
import {
  focusPlace,
  isMacPlatform,
  modKeyLabel,
  shortcutChord,
  shortcutCommand,
  shortcutLabel,
  type ElementLike,
  type FocusPlace,
  type KeyLike,
} from './shortcuts.js';

const key = (k: string, mods: Partial<Omit<KeyLike, 'key'>> = {}): KeyLike => ({
  key: k,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  shiftKey: false,
  ...mods,
});

describe('shortcutCommand', () => {
  it('takes New VM as Alt+N in a browser, where Ctrl+N never reaches a page (Chrome reserves it)', () => {
    const web = { mac: false, web: true };
    expect(shortcutCommand(key('n', { altKey: true }), 'page', web)).toBe('newVm');
    expect(shortcutCommand(key('n', { ctrlKey: true }), 'page', web)).toBeNull();
    expect(shortcutCommand(key('o', { ctrlKey: true }), 'page', web)).toBe('createFromIso');
    expect(shortcutCommand(key('n', { altKey: true }), 'page', { mac: false, web: false })).toBeNull();
    expect(shortcutCommand(key('n', { altKey: true }), 'text', web)).toBeNull();
    expect(shortcutCommand(key('n', { altKey: true, ctrlKey: true }), 'page', web)).toBeNull();
    // A Mac's Option+N is a dead key (the tilde): its physical key says N.
    expect(shortcutCommand(key('Dead', { altKey: true, code: 'KeyN' }), 'page', { mac: true, web: true })).toBe(
      'newVm',
    );
  });

  it('reads the physical key on a non-Latin layout, and only with the modifier', () => {
    // Russian: the N key types "т", the O key "щ".
    expect(shortcutCommand(key('т', { ctrlKey: true, code: 'KeyN' }), 'page', false)).toBe('newVm');
    expect(shortcutCommand(key('щ', { ctrlKey: true, code: 'KeyO' }), 'page', false)).toBe('createFromIso');
    expect(shortcutCommand(key('т', { metaKey: true, code: 'KeyN' }), 'page', true)).toBe('newVm');
    expect(shortcutCommand(key('т', { code: 'KeyN' }), 'page', false)).toBeNull();
    expect(shortcutCommand(key('т', { altKey: true, code: 'KeyN' }), 'page', { mac: false, web: true })).toBe('newVm');
    // A Latin layout's own letter wins: on Dvorak the key at KeyN types "b", and Ctrl+B is not New VM.
    expect(shortcutCommand(key('b', { ctrlKey: true, code: 'KeyN' }), 'page', false)).toBeNull();
    expect(shortcutCommand(key('n', { ctrlKey: true, code: 'KeyL' }), 'page', false)).toBe('newVm');
  });

  it('names the chord wherever the focus is (the page then decides), and labels it per mode', () => {
    expect(shortcutChord(key('n', { metaKey: true }), { mac: true, web: false })).toBe('newVm');
    expect(shortcutCommand(key('n', { metaKey: true }), 'text', true)).toBeNull();
    expect(shortcutLabel('newVm', { mac: false, web: false })).toBe('Ctrl+N');
    expect(shortcutLabel('newVm', { mac: true, web: false })).toBe('⌘N');
    expect(shortcutLabel('newVm', { mac: false, web: true })).toBe('Alt+N');
    expect(shortcutLabel('newVm', { mac: true, web: true })).toBe('⌥N');
    expect(shortcutLabel('createFromIso', { mac: false, web: true })).toBe('Ctrl+O');
    expect(modKeyLabel('N', { mac: false, web: true })).toBe('Alt+N');
  });

  it('maps Ctrl+N, Ctrl+O, Delete and F11 off macOS', () => {
    expect(shortcutCommand(key('n', { ctrlKey: true }), 'page', false)).toBe('newVm');
    expect(shortcutCommand(key('N', { ctrlKey: true }), 'page', false)).toBe('newVm'); // Caps Lock
    expect(shortcutCommand(key('o', { ctrlKey: true }), 'page', false)).toBe('createFromIso');
    expect(shortcutCommand(key('Delete'), 'page', false)).toBe('delete');
    expect(shortcutCommand(key('F11'), 'page', false)).toBe('fullscreen');
  });

  it('uses Cmd on macOS, and Cmd+Backspace deletes as in Finder', () => {
    expect(shortcutCommand(key('n', { metaKey: true }), 'page', true)).toBe('newVm');
    expect(shortcutCommand(key('n', { ctrlKey: true }), 'page', true)).toBeNull();
    expect(shortcutCommand(key('n', { metaKey: true }), 'page', false)).toBeNull();
    expect(shortcutCommand(key('Backspace', { metaKey: true }), 'page', true)).toBe('delete');
    expect(shortcutCommand(key('Backspace', { ctrlKey: true }), 'page', false)).toBeNull();
  });

  it('leaves keys with other modifiers alone (Ctrl+Shift+N, Ctrl+Alt+Delete, Shift+F11)', () => {
    expect(shortcutCommand(key('N', { ctrlKey: true, shiftKey: true }), 'page', false)).toBeNull();
    expect(shortcutCommand(key('Delete', { ctrlKey: true, altKey: true }), 'page', false)).toBeNull();
    expect(shortcutCommand(key('F11', { shiftKey: true }), 'page', false)).toBeNull();
    expect(shortcutCommand(key('n'), 'page', false)).toBeNull();
  });

  it('gives a text field, the console and an open dialog their keys; only F11 reaches the console', () => {
    const keys = [key('n', { ctrlKey: true }), key('o', { ctrlKey: true }), key('Delete'), key('F11')];
    const table = (where: FocusPlace) => keys.map((k) => shortcutCommand(k, where, false));
    expect(table('text')).toEqual([null, null, null, 'fullscreen']);
    expect(table('console')).toEqual([null, null, null, 'fullscreen']);
    expect(table('dialog')).toEqual([null, null, null, null]);
  });
});

/** An element as focusPlace sees it: `inside` is what `closest` finds (the console's selector). */
const el = (tagName: string, o: { type?: string; inConsole?: boolean; editable?: boolean } = {}): ElementLike => ({
  tagName,
  isContentEditable: o.editable ?? false,
  closest: () => (o.inConsole ? {} : null),
  getAttribute: (n) => (n === 'type' ? (o.type ?? null) : null),
});

describe('focusPlace', () => {
  it('tells typing places from the rest of the page', () => {
    expect(focusPlace(el('INPUT'), false)).toBe('text');
    expect(focusPlace(el('input', { type: 'search' }), false)).toBe('text');
    expect(focusPlace(el('TEXTAREA'), false)).toBe('text');
    expect(focusPlace(el('DIV', { editable: true }), false)).toBe('text');
    expect(focusPlace(el('INPUT', { type: 'checkbox' }), false)).toBe('page');
    expect(focusPlace(el('BUTTON'), false)).toBe('page');
    expect(focusPlace(null, false)).toBe('page');
  });

  it('knows the consoles (xterm types into a textarea of its own) and open dialogs', () => {
    expect(focusPlace(el('TEXTAREA', { inConsole: true }), false)).toBe('console');
    expect(focusPlace(el('CANVAS', { inConsole: true }), false)).toBe('console');
    expect(focusPlace(el('BUTTON'), true)).toBe('dialog');
  });
});

describe('isMacPlatform', () => {
  it('reads navigator.platform, else the user agent', () => {
    expect(isMacPlatform({ platform: 'MacIntel' })).toBe(true);
    expect(isMacPlatform({ platform: 'Linux x86_64' })).toBe(false);
    expect(isMacPlatform({ platform: '', userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0)' })).toBe(true);
  });
});
