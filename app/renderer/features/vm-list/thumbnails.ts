/**
 * The VM cards' screen pictures, kept outside React (a card that scrolls away and back, or a list
 * re-sorted, shows its last picture at once). A card asks only while it is on screen and the page
 * is visible: a running VM every POLL_MS, any other VM once per state (its last picture; the
 * driver never captures a VM that is not running, and rate-limits the rest per VM).
 */
import { useEffect, useState, useSyncExternalStore, type RefObject } from 'react';
import type { VmState } from '../../../main/common/vm-types.js';
import { api } from '../../api/current.js';

/** How often a visible running VM's card asks (the driver captures at most every 3 s anyway). */
export const POLL_MS = 3_000;

export interface CardThumb {
  /** A data: URL of the PNG. */
  src: string;
  takenAt: string;
}

const thumbs = new Map<string, CardThumb>();
const listeners = new Set<() => void>();

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** The picture's time for `id` (the "last used" sort reads it). */
export function thumbTakenAt(id: string): string | undefined {
  return thumbs.get(id)?.takenAt;
}

/** Changes whenever any picture does (for the sort to follow). */
let version = 0;
export function useThumbVersion(): number {
  return useSyncExternalStore(subscribe, () => version);
}

async function fetchThumb(id: string): Promise<void> {
  const r = await api().call('vm.thumbnail', { vm: id });
  if (!r.png || !r.takenAt || thumbs.get(id)?.takenAt === r.takenAt) return;
  thumbs.set(id, { src: `data:image/png;base64,${r.png}`, takenAt: r.takenAt });
  version++;
  for (const l of listeners) l();
}

/** Whether `ref`'s element is on screen and the page is visible. */
function useOnScreen(ref: RefObject<Element | null>): boolean {
  const [inView, setInView] = useState(false);
  const [pageVisible, setPageVisible] = useState(() => document.visibilityState === 'visible');
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof IntersectionObserver === 'undefined') {
      setInView(true);
      return;
    }
    const io = new IntersectionObserver((entries) => setInView(entries.some((e) => e.isIntersecting)));
    io.observe(el);
    return () => io.disconnect();
  }, [ref]);
  useEffect(() => {
    const on = () => setPageVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', on);
    return () => document.removeEventListener('visibilitychange', on);
  }, []);
  return inView && pageVisible;
}

/** The VM's latest picture, asked for while its card (`ref`) is seen. */
export function useVmThumbnail(id: string, state: VmState, ref: RefObject<Element | null>): CardThumb | undefined {
  const thumb = useSyncExternalStore(subscribe, () => thumbs.get(id));
  const seen = useOnScreen(ref);
  useEffect(() => {
    if (!seen || state === 'broken') return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      fetchThumb(id)
        .catch(() => undefined) // offline, or the VM just went: the card keeps what it has
        .finally(() => {
          if (!stopped && state === 'running') timer = setTimeout(tick, POLL_MS);
        });
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [id, state, seen]);
  return thumb;
}
