/** Attaches a session's element to a container while the component is mounted. */
import { useEffect, useRef, useSyncExternalStore, type RefObject } from 'react';
import type { ConsoleSession, SessionStatus } from './console-session.js';

const IDLE: SessionStatus = { phase: 'ended', message: null };
const noSubscribe = () => () => {};

export function useAttachedSession(session: ConsoleSession | null): {
  ref: RefObject<HTMLDivElement | null>;
  status: SessionStatus;
} {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!session || !el) return;
    session.attach(el);
    return () => session.detach(el);
  }, [session]);
  const status = useSyncExternalStore(session?.subscribe ?? noSubscribe, session?.getStatus ?? (() => IDLE));
  return { ref, status };
}
