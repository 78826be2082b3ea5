/**
 * Full screen for the VM's screen (F11, the Full screen button, the Electron menu's View › Full
 * screen off macOS), through the Fullscreen API: the app's one full screen. In the Electron window
 * the page's full screen is the window's too, and Escape or F11 leave both.
 */
import { showError } from '../../store/actions.js';

/** Marks the element F11 puts in full screen (the Screen tab's frame) while it is on the page. */
export const FULLSCREEN_TARGET = 'data-fullscreen-target';

/**
 * Leaves full screen, or enters it with `el` (default: the marked element; in the Electron
 * window with none shown, the whole page: the window goes full screen). In a browser with no
 * screen shown it does nothing and returns false, so F11 stays the browser's own.
 * Must run in a user gesture (a click, a key): browsers refuse full screen otherwise.
 */
export function toggleFullscreen(el?: Element | null, onEntered?: () => void): boolean {
  if (document.fullscreenElement) {
    void document.exitFullscreen().catch(() => {});
    return true;
  }
  const target =
    el ?? document.querySelector(`[${FULLSCREEN_TARGET}]`) ?? (window.vmdeskShell ? document.documentElement : null);
  if (!target) return false;
  target
    .requestFullscreen()
    .then(onEntered, (e: unknown) =>
      showError(
        `Full screen was refused: ${e instanceof Error ? e.message : String(e)}. Use the Full screen button above the screen.`,
      ),
    );
  return true;
}
