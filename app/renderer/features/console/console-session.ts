/**
 * A console session lives outside React (cockpit-machines issue #2074: consoles reset on view
 * switch): it owns its terminal or VNC view, its channel and a DOM element that components
 * only move into their container and out again.
 */
export type ConsoleKind = 'serial' | 'vnc';
export type SessionPhase = 'connecting' | 'connected' | 'ended';

export interface SessionStatus {
  phase: SessionPhase;
  /** Why the session ended (the driver's sentence), or null. */
  message: string | null;
}

/** Backoff for reconnecting a lost stream while the VM still runs: 0.5 s doubling to 10 s. */
export const retryDelay = (attempt: number): number => Math.min(10_000, 500 * 2 ** attempt);

/** A close that means the connection was lost (not "the VM stopped", not a refusal). */
export const isConnectionLost = (code: number): boolean => code !== 1000 && code < 4000;

export abstract class ConsoleSession {
  readonly element: HTMLDivElement;
  private status: SessionStatus = { phase: 'connecting', message: null };
  private readonly listeners = new Set<() => void>();
  private container: HTMLElement | null = null;
  protected disposed = false;

  constructor(
    readonly vmId: string,
    readonly kind: ConsoleKind,
  ) {
    this.element = document.createElement('div');
    this.element.className = `console-surface console-${kind}`;
  }

  get attached(): boolean {
    return this.container !== null;
  }

  readonly getStatus = (): SessionStatus => this.status;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  protected setStatus(phase: SessionPhase, message: string | null = null): void {
    if (this.status.phase === phase && this.status.message === message) return;
    this.status = { phase, message };
    this.notify();
  }

  /** Tells subscribers that something they read (status or a subclass's state) changed. */
  protected notify(): void {
    for (const l of this.listeners) l();
  }

  attach(container: HTMLElement): void {
    this.container = container;
    container.appendChild(this.element);
    this.attachedChanged();
  }

  /** Only detaches from `container` (a later attach elsewhere wins). */
  detach(container: HTMLElement): void {
    if (this.container !== container) return;
    this.container = null;
    if (this.element.parentElement === container) this.element.remove();
    this.attachedChanged();
  }

  /** The VM runs (again): connect if not connected. */
  abstract vmRunning(): void;

  /** Closes the channel and frees the terminal/view; `reason` is shown if it is on screen. */
  dispose(reason: string | null = null): void {
    if (this.disposed) return;
    this.disposed = true;
    this.setStatus('ended', reason);
    this.teardown();
    this.listeners.clear();
    this.element.remove();
  }

  protected abstract attachedChanged(): void;
  protected abstract teardown(): void;
}
