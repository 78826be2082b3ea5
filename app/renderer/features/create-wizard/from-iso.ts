/**
 * "Create from ISO" from anywhere (the From ISO… button, Ctrl+O, the app menu): Electron's file
 * dialog, or in a browser the button's file input (then the same upload as a drop).
 */
import { fileIntake } from '../../api/current.js';
import { pickIsoPath } from '../../store/wizard-actions.js';

let input: HTMLInputElement | null = null;

/** The From ISO… button's file input (null when it unmounts). */
export function setIsoFileInput(el: HTMLInputElement | null): void {
  input = el;
}

/**
 * Opens the ISO picker; false when this page cannot take files. In a browser the file chooser
 * opens only in a user gesture (a click, a key press), which is where this is called from.
 */
export function startCreateFromIso(): boolean {
  const intake = fileIntake();
  if (!intake) return false;
  if (intake.kind === 'path') {
    void pickIsoPath();
    return true;
  }
  if (!input) return false;
  input.click();
  return true;
}
