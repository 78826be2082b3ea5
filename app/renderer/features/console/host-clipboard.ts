/**
 * The host's clipboard through the async Clipboard API, in both modes: a browser (`vmdesk web`)
 * asks the user for clipboard-read and allows it only in a secure context (https, or http on
 * localhost); the desktop app's window is granted both by its permission handler
 * (app/main/shell/window-policy.ts).
 */

export type ClipboardRead = { text: string } | { error: string };

/** The clipboard's text, or why it could not be read (with what to do instead). */
export async function readClipboard(): Promise<ClipboardRead> {
  if (!navigator.clipboard?.readText)
    return {
      error:
        'This page may not read the clipboard (browsers allow it only over https or on localhost): paste into the box with Ctrl+V.',
    };
  try {
    return { text: await navigator.clipboard.readText() };
  } catch (e) {
    const denied = e instanceof DOMException && e.name === 'NotAllowedError';
    return {
      error: denied
        ? 'Reading the clipboard was not allowed: paste into the box with Ctrl+V (or allow the clipboard for this page in the browser’s site settings).'
        : `The clipboard could not be read (${e instanceof Error ? e.message : String(e)}): paste into the box with Ctrl+V.`,
    };
  }
}

/** Whether the clipboard can be read without asking (permission already granted). */
export async function clipboardGranted(): Promise<boolean> {
  try {
    const status = await navigator.permissions?.query({ name: 'clipboard-read' as PermissionName });
    return status?.state === 'granted';
  } catch {
    return false; // a browser that does not know the permission's name
  }
}

/**
 * Puts text on the host's clipboard; the error says why not. Browsers refuse while the page is
 * not focused (the user is in another window), so a refusal is normal and is offered as a button.
 */
export async function writeClipboard(text: string): Promise<{ ok: true } | { error: string }> {
  if (!navigator.clipboard?.writeText)
    return { error: 'This page may not write to the clipboard (browsers allow it only over https or on localhost).' };
  try {
    await navigator.clipboard.writeText(text);
    return { ok: true };
  } catch (e) {
    return {
      error:
        e instanceof DOMException && e.name === 'NotAllowedError'
          ? 'The browser did not let the page write to the clipboard (it does only while the page has the focus).'
          : `The clipboard could not be written (${e instanceof Error ? e.message : String(e)}).`,
    };
  }
}
