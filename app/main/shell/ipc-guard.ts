/**
 * The sender check every IPC handler goes through (Electron security checklist #17): a message
 * counts only if it comes from the main frame of our window, showing a page of our app:// origin.
 * A subframe, a page that navigated elsewhere, or another webContents is refused, whatever it sends.
 */
import { APP_HOST, APP_SCHEME } from './channels.js';

/** What the wiring reads off an Electron IPC event (kept apart so the rule is testable without Electron). */
export interface SenderInfo {
  /** The sending frame's URL; undefined when the frame is gone (navigated or destroyed). */
  frameUrl: string | undefined;
  /** The frame has no parent. */
  isMainFrame: boolean;
  /** The event's webContents is our window's. */
  fromOurWindow: boolean;
}

export type Verdict = { ok: true } | { ok: false; why: string };

/**
 * True for URLs of our page. Compares scheme and host, not `URL.origin`: Node's URL reports
 * "null" as the origin of any non-special scheme, while Chromium gives registered standard
 * schemes a real one.
 */
export function isAppUrl(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const u = new URL(url);
    return (
      u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.username === '' && u.password === '' && u.port === ''
    );
  } catch {
    return false;
  }
}

export function senderVerdict(s: SenderInfo): Verdict {
  if (!s.fromOurWindow) return { ok: false, why: 'not our window' };
  if (s.frameUrl === undefined) return { ok: false, why: 'the frame is gone' };
  if (!s.isMainFrame) return { ok: false, why: `a subframe (${s.frameUrl.slice(0, 200)})` };
  if (!isAppUrl(s.frameUrl)) return { ok: false, why: `a foreign page (${s.frameUrl.slice(0, 200)})` };
  return { ok: true };
}

/**
 * Wraps a handler so it runs only for a trusted sender; otherwise `refuse` answers instead.
 * The one place where the check happens: every channel is registered through it.
 */
export function guarded<E, A extends unknown[], R>(
  describe: (event: E) => SenderInfo,
  handler: (event: E, ...args: A) => R,
  refuse: (event: E, why: string) => R,
): (event: E, ...args: A) => R {
  return (event, ...args) => {
    const v = senderVerdict(describe(event));
    return v.ok ? handler(event, ...args) : refuse(event, v.why);
  };
}
