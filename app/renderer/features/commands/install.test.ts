/**
 * The keyboard and shell sources of the dispatcher, with a minimal window: no DOM library here,
 * so the window, its elements and its key events are small fakes with just what install.ts reads
 * (the page's real keys are in e2e/shortcuts.int.test.ts). The store and driver are the real
 * store on the fake API, as in commands.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmdeskShellApi } from '../../../main/common/api.js';
import { createFakeApi } from '../../dev/fake-api.js';
import { closeDialog, connectStore, openDialog, resetStore, selectVm } from '../../store/actions.js';
import { store } from '../../store/store.js';
import { connectShell, installShortcuts } from './install.js';

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

class FakeElement {
  constructor(
    readonly tagName: string,
    private readonly inConsole = false,
  ) {}
  isContentEditable = false;
  closest() {
    return this.inConsole ? {} : null;
  }
  getAttribute() {
    return null;
  }
}

function fakeWindow() {
  let listener: ((e: KeyboardEvent) => void) | undefined;
  const doc = { activeElement: null as FakeElement | null, openDialog: false };
  const win = {
    Element: FakeElement,
    document: {
      get activeElement() {
        return doc.activeElement;
      },
      querySelector: (sel: string) => (sel === 'dialog[open]' && doc.openDialog ? {} : null),
    },
    addEventListener: (_t: string, l: (e: KeyboardEvent) => void) => {
      listener = l;
    },
    removeEventListener: () => {
      listener = undefined;
    },
  };
  /** Presses a key with the focus on `target`; returns whether the page prevented its default. */
  const press = (target: FakeElement, key: string, mods: Partial<KeyboardEvent> = {}) => {
    let prevented = false;
    listener!({
      key,
      code: '',
      ctrlKey: false,
      metaKey: false,
      altKey: false,
      shiftKey: false,
      repeat: false,
      isComposing: false,
      defaultPrevented: false,
      target,
      preventDefault: () => {
        prevented = true;
      },
      stopPropagation: () => {},
      ...mods,
    } as unknown as KeyboardEvent);
    return prevented;
  };
  return { win: win as unknown as Window, doc, press };
}

let disconnect: () => void;
beforeEach(async () => {
  resetStore();
  disconnect = connectStore(createFakeApi({ latencyMs: 0 }));
  await until(() => store.getState().listLoaded && store.getState().connection === 'open');
});
afterEach(() => disconnect());

describe('installShortcuts on macOS, in the Electron window', () => {
  const mac = { mac: true, web: false };

  it('prevents a Cmd+N it declines, so the menu does not run it behind the page (electron#18295)', () => {
    const { win, press } = fakeWindow();
    const off = installShortcuts(win, mac);
    for (const where of [new FakeElement('INPUT'), new FakeElement('TEXTAREA', true)]) {
      expect(press(where, 'n', { metaKey: true }), where.tagName).toBe(true);
      expect(press(where, 'o', { metaKey: true }), where.tagName).toBe(true);
      expect(store.getState().dialog).toBeNull();
    }
    // Cmd+Backspace in a text field deletes to the line's start: left to it (the menu has no key for it).
    expect(press(new FakeElement('INPUT'), 'Backspace', { metaKey: true })).toBe(false);
    expect(store.getState().dialog).toBeNull();
    // From the page: the page's own.
    expect(press(new FakeElement('BUTTON'), 'n', { metaKey: true })).toBe(true);
    expect(store.getState().dialog).toBe('new-vm');
    // In the open form: prevented, and the form stays (its slot is not taken by another dialog).
    expect(press(new FakeElement('BUTTON'), 'n', { metaKey: true })).toBe(true);
    expect(store.getState().dialog).toBe('new-vm');
    off();
  });

  it('leaves those keys to a browser on a Mac (no menu there) and to text fields off macOS', () => {
    const web = fakeWindow();
    installShortcuts(web.win, { mac: true, web: true });
    expect(web.press(new FakeElement('INPUT'), 'o', { metaKey: true })).toBe(false);
    const linux = fakeWindow();
    installShortcuts(linux.win, { mac: false, web: false });
    expect(linux.press(new FakeElement('INPUT'), 'n', { ctrlKey: true })).toBe(false);
  });

  it('deletes on Cmd+Backspace from the page, not from a dialog', () => {
    const stopped = Object.values(store.getState().vms).find((v) => v.state === 'stopped' && !v.host)!;
    selectVm(stopped.id);
    const { win, doc, press } = fakeWindow();
    installShortcuts(win, mac);
    doc.openDialog = true; // e.g. the Take snapshot dialog, whose buttons take the focus
    expect(press(new FakeElement('BUTTON'), 'Backspace', { metaKey: true })).toBe(false);
    expect(store.getState().dialog).toBeNull();
    doc.openDialog = false;
    expect(press(new FakeElement('BUTTON'), 'Backspace', { metaKey: true })).toBe(true);
    expect(store.getState().dialog).toBe('delete');
  });
});

describe('connectShell', () => {
  function fakeShell() {
    let onCommand: Parameters<VmdeskShellApi['onCommand']>[0] = () => {};
    let onConsole: Parameters<VmdeskShellApi['onOpenConsole']>[0] = () => {};
    const shell = {
      onCommand: (l) => {
        onCommand = l;
        return () => {};
      },
      onOpenConsole: (l) => {
        onConsole = l;
        return () => {};
      },
      onOpenIso: () => () => {},
      reportSelection: () => {},
    } as Partial<VmdeskShellApi> as VmdeskShellApi;
    return {
      shell,
      command: (c: Parameters<typeof onCommand>[0]) => onCommand(c),
      console: (vm: string) => onConsole({ vm }),
    };
  }

  it('ignores the menu while a dialog is open: Delete… does not replace the New VM form', () => {
    const stopped = Object.values(store.getState().vms).find((v) => v.state === 'stopped' && !v.host)!;
    const other = Object.values(store.getState().vms).find((v) => v.id !== stopped.id && !v.host)!;
    selectVm(stopped.id);
    const { shell, command, console } = fakeShell();
    let domDialog = false; // a dialog of a tab's own (Take snapshot), outside the store's slot
    const off = connectShell(shell, {
      querySelector: (s: string) => (s === 'dialog[open]' && domDialog ? {} : null),
    } as never);
    domDialog = true;
    command({ command: 'showLogs', vm: other.id });
    expect(store.getState()).toMatchObject({ selectedId: stopped.id, tab: 'overview' });
    domDialog = false;
    openDialog('new-vm');
    command({ command: 'delete', vm: stopped.id });
    command({ command: 'newVm' });
    console(other.id);
    expect(store.getState()).toMatchObject({ dialog: 'new-vm', selectedId: stopped.id });
    closeDialog();
    command({ command: 'delete', vm: stopped.id });
    expect(store.getState().dialog).toBe('delete');
    off();
  });
});
