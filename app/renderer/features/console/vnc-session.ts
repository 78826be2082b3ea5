/** The graphical console of one VM: a noVNC view on a `console.vnc` channel, reconnecting while the VM runs. */
import type { VmdeskApi } from '../../../main/common/api.js';
import { ConsoleSession, isConnectionLost, retryDelay } from './console-session.js';
import { createVncView, type VncView } from './vnc-adapter.js';

export class VncSession extends ConsoleSession {
  private view: VncView | null = null;
  private scale = true;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly api: VmdeskApi,
    vmId: string,
    private readonly isRunning: () => boolean,
  ) {
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
