/** The graphical console of one VM: a noVNC view on a `console.vnc` channel, reconnecting while the VM runs. */
import type { VmdeskApi } from '../../../main/common/api.js';
import { ConsoleSession } from './console-session.js';
import { createVncView, type VncView } from './vnc-adapter.js';

/** Backoff for reconnecting while the VM still runs: 0.5 s doubling to 10 s. */
const retryDelay = (attempt: number) => Math.min(10_000, 500 * 2 ** attempt);

export class VncSession extends ConsoleSession {
  private view: VncView | null = null;
  private scale = true;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly api: VmdeskApi, vmId: string, private readonly isRunning: () => boolean) {
    super(vmId, 'vnc');
    this.connect();
  }

  get scaleViewport(): boolean {
    return this.scale;
  }

  setScaleViewport(on: boolean): void {
    this.scale = on;
    this.view?.setScaleViewport(on);
  }

  sendCtrlAltDel(): void {
    this.view?.sendCtrlAltDel();
  }

  toPng(): Promise<Blob | null> {
    return this.view ? this.view.toPng() : Promise.resolve(null);
  }

  focus(): void {
    this.view?.focus();
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
      onConnect: () => {
        if (this.view !== view) return;
        this.attempt = 0;
        this.setStatus('connected');
      },
      onDisconnect: (reason) => {
        if (this.view !== view) return;
        this.view = null;
        this.setStatus('ended', reason);
        // A dropped connection while the VM still runs: try again. A stopped VM reconnects on
        // its next vm.changed to running (vmRunning).
        if (!this.disposed && this.isRunning()) this.timer = setTimeout(() => this.connect(), retryDelay(this.attempt++));
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
