/**
 * Live thumbnails of VMs' screens for the VM list (`vm.thumbnail`).
 *
 * Pull, not push: the renderer asks for the cards it shows (visible on screen, page not hidden),
 * so nothing is captured for a VM nobody looks at, and a window that closes or crashes leaves no
 * subscription behind. Whoever asks and however often, one VM's screen is captured at most once
 * every `minIntervalMs` (the answer in between is the last picture), never while it is paused or
 * off (then the answer is the last picture, kept on disk so it outlives the run and the driver),
 * and two callers asking at once share one capture.
 */
import fs from 'node:fs';
import path from 'node:path';
import { encodePng, scaleDown, type Rgb } from './thumbnail.js';

/** At most one capture per VM this often (ms), whatever the number of viewers. */
export const THUMBNAIL_INTERVAL_MS = 3_000;
/** The picture's width (px): the list shows it at about half that, so it stays sharp at 2× DPI. */
export const THUMBNAIL_WIDTH = 240;

export interface Thumbnail {
  /** base64 PNG; null when none was ever taken. */
  png: string | null;
  /** When it was captured (ISO 8601); null with png null. */
  takenAt: string | null;
}

/** One VM as the thumbnailer needs it, at the moment of the call. */
export interface ScreenSource {
  id: string;
  /** Only a running VM is captured: MUST be false while it is paused, stopping or off. */
  running: boolean;
  /** Where its last picture is kept across runs and restarts (undefined: memory only). */
  file: string | undefined;
  /** Reads its screen now. */
  capture(): Promise<Rgb>;
}

interface Entry {
  png: Buffer | null;
  takenAt: number | null;
  /** When the last capture started (ms), successful or not: the rate limit counts attempts. */
  triedAt: number;
  inflight: Promise<void> | undefined;
  /** The last capture's failure, said once in the log until one succeeds again. */
  failure: string | undefined;
}

export interface ScreenThumbsOptions {
  minIntervalMs?: number;
  width?: number;
  now?: () => number;
  /** A line for the driver log (a capture that fails, said once). */
  log?: (id: string, line: string) => void;
}

export class ScreenThumbs {
  readonly #entries = new Map<string, Entry>();
  readonly #minIntervalMs: number;
  readonly #width: number;
  readonly #now: () => number;
  readonly #log: (id: string, line: string) => void;
  /** Captures started since construction (the bench and tests read it). */
  captures = 0;

  constructor(o: ScreenThumbsOptions = {}) {
    this.#minIntervalMs = o.minIntervalMs ?? THUMBNAIL_INTERVAL_MS;
    this.#width = o.width ?? THUMBNAIL_WIDTH;
    this.#now = o.now ?? Date.now;
    this.#log = o.log ?? (() => undefined);
  }

  /** The VM's latest picture: a new one when it runs and the last is `minIntervalMs` old. */
  async get(src: ScreenSource): Promise<Thumbnail> {
    const e = this.#entry(src);
    if (src.running) {
      if (!e.inflight && this.#now() - e.triedAt >= this.#minIntervalMs) e.inflight = this.#capture(src, e);
      await e.inflight;
    }
    return {
      png: e.png?.toString('base64') ?? null,
      takenAt: e.takenAt === null ? null : new Date(e.takenAt).toISOString(),
    };
  }

  /** Forgets a deleted VM (its file goes with its log dir). */
  forget(id: string): void {
    this.#entries.delete(id);
  }

  #entry(src: ScreenSource): Entry {
    let e = this.#entries.get(src.id);
    if (!e) {
      e = { png: null, takenAt: null, triedAt: -Infinity, inflight: undefined, failure: undefined };
      // The last run's picture (or an earlier driver's), its time the file's.
      if (src.file) {
        try {
          e.png = fs.readFileSync(src.file);
          e.takenAt = fs.statSync(src.file).mtimeMs;
        } catch {
          // none yet
        }
      }
      this.#entries.set(src.id, e);
    }
    return e;
  }

  async #capture(src: ScreenSource, e: Entry): Promise<void> {
    e.triedAt = this.#now();
    this.captures++;
    try {
      const png = encodePng(scaleDown(await src.capture(), this.#width));
      const at = this.#now();
      e.png = png;
      e.takenAt = at;
      e.failure = undefined;
      if (src.file) {
        // Renamed into place, not fsynced: a picture every few seconds must not wake the disk
        // each time, and one lost to a power cut is replaced by the next run's.
        fs.mkdirSync(path.dirname(src.file), { recursive: true });
        const tmp = `${src.file}.tmp`;
        fs.writeFileSync(tmp, png, { mode: 0o600 });
        const t = new Date(at);
        fs.utimesSync(tmp, t, t);
        fs.renameSync(tmp, src.file);
      }
    } catch (err) {
      const why = (err as Error).message;
      if (why !== e.failure) this.#log(src.id, `screen thumbnail not taken: ${why}`);
      e.failure = why;
    } finally {
      e.inflight = undefined;
    }
  }
}
