/**
 * The ISO library dialog's calls. The list is the dialog's own (read when it opens, after each
 * delete, and when a VM changes): nothing else in the window needs it, so it stays out of the
 * app store.
 */
import type { IsoLibraryEntry } from '../../../main/common/contract.js';
import { VmdeskError } from '../../../main/common/errors.js';
import { messageOf, requireApi } from '../../store/actions.js';

export function listIsoLibrary(): Promise<IsoLibraryEntry[]> {
  return requireApi().call('iso.list', {});
}

export interface RemoveOutcome {
  /** True when this call deleted the file. */
  removed: boolean;
  /** The list read after the attempt; null when it could not be read (then `message` says why). */
  entries: IsoLibraryEntry[] | null;
  /** What to tell the user; `tone` info when the image was already gone. */
  message: string | null;
  tone: 'info' | 'error';
}

/**
 * Deletes the image at `path`, then reads the list again whatever happened: a refusal
 * (`disk-in-use`) or a `not-found` means the list on screen was out of date.
 */
export async function removeIso(path: string, name: string): Promise<RemoveOutcome> {
  let removed = false;
  let message: string | null = null;
  let tone: RemoveOutcome['tone'] = 'error';
  try {
    await requireApi().call('iso.remove', { path });
    removed = true;
  } catch (err) {
    if (err instanceof VmdeskError && err.code === 'not-found') {
      // The driver's sentence points to the CLI; here the refreshed list shows it.
      message = `${name} is no longer in the library: it was removed meanwhile.`;
      tone = 'info';
    } else {
      message = messageOf(err);
    }
  }
  let entries: IsoLibraryEntry[] | null = null;
  try {
    entries = await listIsoLibrary();
  } catch (err) {
    if (message === null) {
      message = `The list could not be read again: ${messageOf(err)}`;
      tone = 'error';
    }
  }
  return { removed, entries, message, tone };
}
