/**
 * What a running VM's guest agent says, kept up to date for the Overview and `vmdesk info`: one
 * GuestAgent per run of QEMU. QEMU announces the guest opening and closing the agent's port
 * (VSERPORT_CHANGE), so nothing is polled while no agent runs; while one does, its addresses are
 * read again a few times after it appears (DHCP comes later) and then every few minutes.
 */
import type { GuestAgentInfo } from '../common/vm-types.js';
import { GuestAgent } from '../qemu/guest-agent.js';
import type { QmpEvent } from '../qemu/qmp-types.js';

/** The virtio-serial port's device id in argv.ts. */
export const GUEST_AGENT_DEVICE = 'qga0port';

/** After the agent appears: read again after these delays (ms), then every REFRESH_MS. */
const FOLLOW_UPS_MS = [5_000, 30_000];
const REFRESH_MS = 5 * 60_000;

export interface GuestState {
  connected: boolean;
  info?: GuestAgentInfo;
}

export class GuestWatch {
  readonly agent: GuestAgent;
  #state: GuestState = { connected: false };
  #timers: ReturnType<typeof setTimeout>[] = [];
  #reading: Promise<void> | undefined;
  #closed = false;

  constructor(
    socketPath: string,
    /** Called with the new state whenever it changes. */
    private readonly onChange: (s: GuestState) => void,
    private readonly log: (line: string) => void,
  ) {
    this.agent = new GuestAgent(socketPath);
  }

  get state(): GuestState {
    return this.#state;
  }

  /** Feed QEMU's events here (the run's QMP). */
  onQmpEvent(e: QmpEvent): void {
    if (e.event !== 'VSERPORT_CHANGE' || (e.data as { id?: string } | undefined)?.id !== GUEST_AGENT_DEVICE) return;
    const open = (e.data as { open?: boolean }).open === true;
    this.#clearTimers();
    if (open) {
      this.#schedule();
      void this.read();
    } else if (this.#state.connected) {
      this.log('the guest agent closed its port');
      this.#set({ connected: false });
    }
  }

  /** An adopted QEMU's guest may have opened the port before this driver listened: ask once. */
  probe(): void {
    void this.agent.ping().then((up) => {
      if (!up || this.#closed) return;
      this.#schedule();
      void this.read();
    });
  }

  /** Reads hostname, OS and addresses; a guest whose agent does not answer is `connected: false`. */
  read(): Promise<void> {
    this.#reading ??= this.agent
      .info()
      .then(
        (info) => {
          if (!this.#state.connected)
            this.log(`the guest agent answers (${info.os?.prettyName ?? info.hostname ?? 'no name'})`);
          this.#set({ connected: true, info });
        },
        () => {
          if (this.#state.connected) this.#set({ connected: false });
        },
      )
      .finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  close(): void {
    this.#closed = true;
    this.#clearTimers();
    this.agent.close();
  }

  #set(s: GuestState): void {
    if (this.#closed) return;
    this.#state = s;
    this.onChange(s);
  }

  #schedule(): void {
    this.#clearTimers();
    const at = (ms: number, then?: () => void) => {
      const t = setTimeout(() => {
        this.#timers = this.#timers.filter((x) => x !== t);
        void this.read();
        then?.();
      }, ms);
      t.unref();
      this.#timers.push(t);
    };
    const every = () => at(REFRESH_MS, every);
    FOLLOW_UPS_MS.forEach((ms, i) => at(ms, i === FOLLOW_UPS_MS.length - 1 ? every : undefined));
  }

  #clearTimers(): void {
    for (const t of this.#timers.splice(0)) clearTimeout(t);
  }
}
