/**
 * Connects the dispatcher to its sources: the keyboard (every mode) and, in the Electron window,
 * the app menu's commands and the tray's "Open console"; and tells the main process which VM the
 * page shows, so the menu's VM items follow it.
 */
import type { VmdeskShellApi } from '../../../main/common/api.js';
import { store } from '../../store/store.js';
import { openConsole, runCommand } from './commands.js';
import { focusPlace, isMacPlatform, shortcutCommand } from './shortcuts.js';

/** The keyboard shortcuts on `win`; returns the disposer. */
export function installShortcuts(win: Window = window): () => void {
  const mac = isMacPlatform();
  const onKey = (e: KeyboardEvent) => {
    if (e.defaultPrevented || e.isComposing || e.repeat) return;
    const doc = win.document;
    const where = focusPlace(
      e.target instanceof Element ? e.target : doc.activeElement,
      doc.querySelector('dialog[open]') !== null,
    );
    const command = shortcutCommand(e, where, mac);
    if (!command || !runCommand(command)) return;
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
export function connectShell(shell: VmdeskShellApi): () => void {
  const offCommand = shell.onCommand(({ command, vm }) => void runCommand(command, vm));
  const offConsole = shell.onOpenConsole(({ vm }) => openConsole(vm));
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
