/** The graphical console of one VM: a noVNC view on a `console.vnc` channel, reconnecting while the VM runs. */
import type { VmdeskApi } from '../../../main/common/api.js';
import { ConsoleSession, isConnectionLost, retryDelay } from './console-session.js';
import { comboEvents, type Key } from './keys.js';
import { typeStrokes, type Stroke, type TypeOptions, type TypeOutcome } from './type-text.js';
import { createVncView, type VncView } from './vnc-adapter.js';

/** What became of the text the guest last copied: on the host's clipboard, or refused (with why). */
export interface GuestCopy {
  text: string;
  /** Counts copies, so the same text copied twice still shows its note again. */
  seq: number;
  outcome: { ok: true } | { error: string };
}

export interface VncSessionOptions {
  /** Start asking the guest to follow the window's size (a virtio-vga guest can). */
  resizeSession?: boolean;
  /** Whether the VM's shared clipboard is on, asked at each copy from the guest. */
  clipboardOn?(): boolean;
  /** Where the guest's copies go: the host's clipboard. */
  writeClipboard?(text: string): Promise<{ ok: true } | { error: string }>;
}

export class VncSession extends ConsoleSession {
  private view: VncView | null = null;
  private grabbed = false;
  private scale = true;
  private resize = false;
  private copied: GuestCopy | null = null;
  private copies = 0;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly api: VmdeskApi,
    vmId: string,
    private readonly isRunning: () => boolean,
    private readonly opts: VncSessionOptions = {},
  ) {
    super(vmId, 'vnc');
    this.resize = opts.resizeSession ?? false;
    this.connect();
  }

  get scaleViewport(): boolean {
    return this.scale;
  }

  setScaleViewport(on: boolean): void {
    this.scale = on;
    this.view?.setScaleViewport(on);
  }

  /** Whether the guest is asked to take the window's size (else the picture is scaled or scrolled). */
  get resizeSession(): boolean {
    return this.resize;
  }

  setResizeSession(on: boolean): void {
    this.resize = on;
    this.view?.setResizeSession(on);
  }

  /** Offers `text` as the clipboard to the guest (its vdagent takes it); false unless connected. */
  pasteToGuest(text: string): boolean {
    return this.view?.pasteText(text) ?? false;
  }

  /** The guest's last copy and whether it reached the host clipboard (useSyncExternalStore snapshot). */
  readonly getGuestCopy = (): GuestCopy | null => this.copied;

  /** Retries a copy the browser refused (from a click, which gives the page the right to write). */
  async copyAgain(): Promise<void> {
    const c = this.copied;
    if (!c) return;
    const outcome = await this.write(c.text);
    if (this.copied !== c) return;
    this.copied = { ...c, outcome };
    this.notify();
  }

  private write(text: string): Promise<{ ok: true } | { error: string }> {
    return this.opts.writeClipboard?.(text) ?? Promise.resolve({ error: 'This window has no clipboard to write to.' });
  }

  private guestCopied(text: string): void {
    if (!(this.opts.clipboardOn?.() ?? false) || text === '') return;
    const seq = ++this.copies;
    void this.write(text).then((outcome) => {
      if (seq !== this.copies) return;
      this.copied = { text, seq, outcome };
      this.notify();
    });
  }

  /** Presses a combination (Ctrl+Alt+F2 …) in the guest; false if the screen is not connected. */
  sendCombo(keys: readonly Key[]): boolean {
    const view = this.view;
    if (!view) return false;
    return comboEvents(keys).every(({ key, down }) => view.sendKey(key, down));
  }

  /**
   * Types `strokes` as key presses, paced, until done, cancelled (`opts.signal`) or the screen
   * disconnects. The guest must run (a paused QEMU drops key events).
   */
  typeStrokes(strokes: readonly Stroke[], opts: Omit<TypeOptions, 'wait' | 'msPerEvent'> = {}): Promise<TypeOutcome> {
    return typeStrokes(strokes, (key, down) => this.view?.sendKey(key, down) ?? false, opts);
  }

  toPng(): Promise<Blob | null> {
    return this.view ? this.view.toPng() : Promise.resolve(null);
  }

  /** Whether keys typed now go to the guest (the screen has the keyboard focus). */
  readonly getKeyboardGrabbed = (): boolean => this.grabbed;

  /** Gives the keyboard to the guest. */
  focus(): void {
    this.view?.focus();
  }

  /** Gives the keyboard back to the page (what the release shortcut does). */
  releaseKeyboard(): void {
    this.view?.releaseKeyboard();
  }

  vmRunning(): void {
    if (this.disposed || this.view) return;
    this.attempt = 0;
    this.connect();
  }

  private connect(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.setStatus('connecting');
    const channel = this.api.openStream('console.vnc', { vm: this.vmId });
    const view = createVncView(this.element, channel, {
      scaleViewport: this.scale,
      resizeSession: this.resize,
      onClipboard: (text) => {
        if (this.view === view) this.guestCopied(text);
      },
      onConnect: () => {
        if (this.view !== view) return;
        this.attempt = 0;
        this.setStatus('connected');
      },
      onKeyboardGrab: (grabbed) => {
        if (this.view !== view || this.grabbed === grabbed) return;
        this.grabbed = grabbed;
        this.notify();
      },
      onDisconnect: (reason, code) => {
        if (this.view !== view) return;
        this.view = null;
        this.setStatus('ended', reason);
        // A lost connection while the VM still runs: try again. A stopped VM reconnects when
        // it runs again (vmRunning).
        if (!this.disposed && isConnectionLost(code) && this.isRunning())
          this.timer = setTimeout(() => this.connect(), retryDelay(this.attempt++));
      },
    });
    this.view = view;
  }

  protected attachedChanged(): void {
    // noVNC watches its own element's size (ResizeObserver) and rescales itself.
  }

  protected teardown(): void {
    if (this.timer) clearTimeout(this.timer);
    const view = this.view;
    this.view = null;
    view?.disconnect();
  }
}
