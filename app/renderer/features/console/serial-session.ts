/** The serial console of one VM: xterm.js (DOM renderer) fed by a `console.serial` channel. */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal, type ITheme } from '@xterm/xterm';
import type { StreamChannel, VmdeskApi } from '../../../main/common/api.js';
import { ConsoleSession, isConnectionLost, retryDelay } from './console-session.js';
import { WriteGate } from './write-gate.js';

const LIGHT: ITheme = {
  background: '#fbfbfc',
  foreground: '#1f2328',
  cursor: '#1f2328',
  selectionBackground: '#b6d3fb',
  black: '#1f2328',
  brightBlack: '#6e7781',
  blue: '#0a58ca',
  brightBlue: '#2f6fde',
  green: '#1a7f37',
  brightGreen: '#2da44e',
  red: '#c62828',
  brightRed: '#d64545',
  yellow: '#8a6100',
  brightYellow: '#a47400',
  cyan: '#0b7285',
  magenta: '#8e3ea8',
  white: '#d0d7de',
  brightWhite: '#ffffff',
};
const DARK: ITheme = {
  background: '#17181b',
  foreground: '#e4e6ea',
  cursor: '#e4e6ea',
  selectionBackground: '#2f4a73',
  black: '#17181b',
  brightBlack: '#7d8590',
  blue: '#6ea8fe',
  brightBlue: '#8cbcff',
  green: '#57c77a',
  brightGreen: '#7ee29b',
  red: '#ff7b72',
  brightRed: '#ffa198',
  yellow: '#e3b341',
  brightYellow: '#f2cc60',
  cyan: '#56d4dd',
  magenta: '#d2a8ff',
  white: '#c9d1d9',
  brightWhite: '#ffffff',
};

const encoder = new TextEncoder();
const darkQuery = () => window.matchMedia('(prefers-color-scheme: dark)');

export class SerialSession extends ConsoleSession {
  private readonly term: Terminal;
  private readonly fit = new FitAddon();
  private readonly gate: WriteGate;
  private channel: StreamChannel | null = null;
  private opened = false;
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private readonly resize = new ResizeObserver(() => this.refit());
  private readonly onScheme = () => {
    this.term.options.theme = darkQuery().matches ? DARK : LIGHT;
  };

  constructor(
    private readonly api: VmdeskApi,
    vmId: string,
    private readonly isRunning: () => boolean,
  ) {
    super(vmId, 'serial');
    this.term = new Terminal({
      fontFamily: 'ui-monospace, "SF Mono", "Cascadia Mono", "DejaVu Sans Mono", Menlo, monospace',
      fontSize: 13,
      lineHeight: 1.15,
      scrollback: 5000,
      cursorBlink: true,
      theme: darkQuery().matches ? DARK : LIGHT,
    });
    this.term.loadAddon(this.fit);
    this.gate = new WriteGate((data, parsed) => this.term.write(data, parsed));
    this.term.onData((s) => this.channel?.send(encoder.encode(s)));
    // Mouse reports in X10 mode: one byte per char code, not UTF-8.
    this.term.onBinary((s) => this.channel?.send(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff)));
    darkQuery().addEventListener('change', this.onScheme);
    this.connect();
  }

  focus(): void {
    this.term.focus();
  }

  vmRunning(): void {
    if (this.disposed || this.channel) return;
    this.connect();
  }

  private connect(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    // The driver replays recent history on open: start from a clean screen so it is not doubled.
    this.gate.clear();
    this.term.reset();
    this.setStatus('connecting');
    const ch = this.api.openStream('console.serial', { vm: this.vmId });
    ch.binaryType = 'arraybuffer';
    ch.onopen = () => {
      if (this.channel !== ch) return;
      this.attempt = 0;
      this.setStatus('connected');
    };
    ch.onmessage = (ev) => {
      if (this.channel === ch) this.gate.push(new Uint8Array(ev.data));
    };
    ch.onclose = (ev) => {
      if (this.channel !== ch) return;
      this.channel = null;
      this.gate.push(encoder.encode(`\r\n\x1b[2m[${ev.reason}]\x1b[0m\r\n`));
      this.setStatus('ended', ev.reason);
      // Lost (e.g. vmdesk web restarted) while the VM runs: try again; the replay restores the screen.
      if (isConnectionLost(ev.code) && this.isRunning() && !this.disposed)
        this.retry = setTimeout(() => this.connect(), retryDelay(this.attempt++));
    };
    ch.onerror = () => {};
    this.channel = ch;
  }

  protected attachedChanged(): void {
    if (!this.attached) {
      this.resize.disconnect();
      return;
    }
    // xterm measures its font when opened, so open only once the element is in the document.
    if (!this.opened) {
      this.term.open(this.element);
      this.opened = true;
    }
    this.resize.observe(this.element);
    this.refit();
  }

  private refit(): void {
    if (!this.attached || this.element.clientWidth === 0) return;
    try {
      this.fit.fit();
    } catch {
      /* not measurable yet; the next resize fits */
    }
  }

  protected teardown(): void {
    if (this.retry) clearTimeout(this.retry);
    const ch = this.channel;
    this.channel = null;
    ch?.close(1000, 'viewer closed');
    this.gate.close();
    this.resize.disconnect();
    darkQuery().removeEventListener('change', this.onScheme);
    this.term.dispose();
  }
}
