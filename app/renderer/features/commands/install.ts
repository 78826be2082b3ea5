/**
 * Connects the dispatcher to its sources: the keyboard (every mode) and, in the Electron window,
 * the app menu's commands and the tray's "Open console"; and tells the main process which VM the
 * page shows, so the menu's VM items follow it.
 */
import type { VmdeskShellApi } from '../../../main/common/api.js';
import { store } from '../../store/store.js';
import { openConsole, runCommand } from './commands.js';
import { focusPlace, isMacPlatform, shortcutChord, shortcutCommand, type KeyMode } from './shortcuts.js';

/** Whether one of the page's modal dialogs is open (the store's dialog slot, or any open <dialog>). */
export function dialogOpen(doc: Pick<Document, 'querySelector'> = document): boolean {
  return store.getState().dialog !== null || doc.querySelector('dialog[open]') !== null;
}

/**
 * The keyboard shortcuts on `win`; returns the disposer.
 *
 * macOS: Electron runs a menu item's key equivalent for every key the page does not
 * preventDefault, whatever `registerAccelerator` says (electron#18295). So a Cmd+N or Cmd+O the
 * page declines (typed in a text field, the console, a dialog) is prevented here too, and the
 * menu does not run it behind the page's back; neither has a meaning in a text field or a
 * terminal. Cmd+Backspace has one (delete to the line's start), so the menu's Delete… has no key
 * equivalent on macOS (app-menu.ts) and the key is left alone where the page declines it.
 */
export function installShortcuts(win: Window = window, mode?: KeyMode): () => void {
  const { mac, web } = mode ?? { mac: isMacPlatform(), web: !win.vmdeskShell };
  const onKey = (e: KeyboardEvent) => {
    if (e.defaultPrevented || e.isComposing) return;
    const chord = shortcutChord(e, { mac, web });
    if (!chord) return;
    const menuWouldRun = mac && !web && (chord === 'newVm' || chord === 'createFromIso');
    if (e.repeat) {
      if (menuWouldRun) e.preventDefault();
      return;
    }
    const doc = win.document;
    // The window's own Element (a test's fake window has one too).
    const El = (win as Window & { Element: typeof Element }).Element;
    const target = e.target instanceof El ? e.target : doc.activeElement;
    const where = focusPlace(target, dialogOpen(doc));
    const command = shortcutCommand(e, where, { mac, web });
    if (!command || !runCommand(command)) {
      // Not stopped: the console still gets its key (the guest's Super+N is the guest's).
      if (menuWouldRun) e.preventDefault();
      return;
    }
    // Handled: no browser default (Ctrl+N a new window, Ctrl+O its own file dialog), not the
    // guest's key, and on macOS not the menu's key equivalent too.
    e.preventDefault();
    e.stopPropagation();
  };
  // Capture phase: noVNC stops the keys it takes on its canvas, and F11 must be ours first there.
  win.addEventListener('keydown', onKey, true);
  return () => win.removeEventListener('keydown', onKey, true);
}

/** The Electron window's shell events and selection reports; returns the disposer. */
export function connectShell(shell: VmdeskShellApi, doc: Pick<Document, 'querySelector'> = document): () => void {
  // While a dialog is open the page behind it is inert, and so is the native menu: its New VM…
  // or Delete… would replace the dialog (one slot: what the user typed in the New VM form would
  // be lost), and Full screen would cover it.
  const offCommand = shell.onCommand(({ command, vm }) => {
    if (!dialogOpen(doc)) runCommand(command, vm);
  });
  // The tray's Open console changes the selection, which a dialog about the selected VM (the
  // delete confirmation) must not see change under it: the window comes forward with its dialog.
  const offConsole = shell.onOpenConsole(({ vm }) => {
    if (!dialogOpen(doc)) openConsole(vm);
  });
  let reported: string | null | undefined;
  const report = () => {
    const id = store.getState().selectedId;
    if (id === reported) return;
    reported = id;
    shell.reportSelection(id);
  };
  report();
  const offStore = store.subscribe(report);
  return () => {
    offCommand();
    offConsole();
    offStore();
  };
}

/** Both of the above, as the page starts (App mounts). */
export function installCommands(): () => void {
  const offKeys = installShortcuts();
  const offShell = window.vmdeskShell ? connectShell(window.vmdeskShell) : () => {};
  return () => {
    offKeys();
    offShell();
  };
}
