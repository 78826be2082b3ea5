/**
 * What the console throughput rows (vnc.ts, serial.ts) share: a real test guest started by a
 * real `vmdesk driver`, its shell driven through its serial console, and `vmdesk web` in front
 * of that driver (as a client of it, so the serial console's web path is WebSocket → web process
 * → control socket → driver → QEMU; a VM's screen goes WebSocket → web process → QEMU).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { VmSummary } from '../../app/main/common/vm-types.js';
import { openControlStream } from '../../app/main/ipc/control-client.js';
import { driverFiles, vmFiles } from '../../app/main/paths/vm-files.js';
import { VMDESK, type BenchSandbox } from './sandbox.js';
import { sleep } from './stats.js';

/** The test guest prints this on its serial console once booted (e2e/guest/init). */
export const GUEST_READY = 'VMDESK-GUEST-READY';
const BOOT_TIMEOUT_MS = 240_000;

export interface BenchGuest {
  id: string;
  name: string;
  files: ReturnType<typeof vmFiles>;
}

/** `vmdesk define` + `vmdesk start` through the sandbox's driver, then waits for the guest's prompt. */
export async function bootGuest(
  sb: BenchSandbox,
  name: string,
  iso: string,
  extra: string[] = [],
): Promise<BenchGuest> {
  const def = await sb.run(['define', '--name', name, '--memory', '256M', '--cdrom', iso, ...extra, '--json']);
  if (def.code !== 0) throw new Error(`vmdesk define ${name} exited ${def.code}: ${def.stderr.trim()}`);
  const vm = JSON.parse(def.stdout) as VmSummary;
  const started = await sb.run(['start', name]);
  if (started.code !== 0) throw new Error(`vmdesk start ${name} exited ${started.code}: ${started.stderr.trim()}`);
  const files = vmFiles(sb.paths, vm.id);
  await sb.waitForFileText(files.serialLog, GUEST_READY, BOOT_TIMEOUT_MS);
  return { id: vm.id, name, files };
}

/**
 * A shell session on a serial byte stream: `run` types a command line and resolves once `marker`
 * has arrived after it. Markers should be computed by the shell (`$((6*7))`) so the echo of the
 * typed line never matches.
 */
export class SerialShell {
  #seen = '';
  constructor(readonly sock: { write(d: string): unknown; on(ev: 'data', l: (d: Buffer) => void): unknown }) {
    sock.on('data', (d: Buffer) => {
      this.#seen = (this.#seen + d.toString('latin1')).slice(-4096);
    });
  }

  async run(line: string, marker: string, timeoutMs = 60_000): Promise<void> {
    this.#seen = '';
    this.sock.write(line + '\n');
    const deadline = performance.now() + timeoutMs;
    while (!this.#seen.includes(marker)) {
      if (performance.now() > deadline)
        throw new Error(
          `the guest did not print ${marker} within ${timeoutMs / 1000} s after: ${line.slice(0, 80)}; ` +
            `its console's last output: ${JSON.stringify(this.#seen.slice(-300))}`,
        );
      await sleep(20);
    }
  }
}

/** The guest's serial console through the driver's control socket (what `vmdesk console` uses). */
export async function serialViaControl(sb: BenchSandbox, vm: BenchGuest): Promise<net.Socket> {
  const sock = await openControlStream(driverFiles(sb.paths).controlSocket, 'console.serial', { vm: vm.id });
  sock.resume();
  return sock;
}

/** Stops the guest's safety power-off (e2e/guest/init: `sleep $timeout && poweroff`) so a long bench run keeps it. */
export const KEEP_GUEST_ALIVE = 'kill $(pidof sleep) 2>/dev/null; echo KEEP$((40+2))ALIVE';
export const KEEP_GUEST_ALIVE_MARKER = 'KEEP42ALIVE';

export interface WebServer {
  child: ChildProcess;
  origin: string;
  token: string;
  /** `ws://…/stream?…` for a stream of the contract. */
  streamUrl(name: string, params: object): string;
}

/**
 * Another build's `vmdesk` (its bin/vmdesk.mjs or .cjs), whose `vmdesk web` the VNC and serial
 * rows also measure, as a client of the same driver, interleaved with this build's: an A/B of a
 * change to the web path on a machine too noisy for two separate bench runs to tell apart.
 */
export const BASELINE_WEB_VMDESK = process.env.VMDESK_BENCH_BASELINE_WEB || undefined;

/** `vmdesk web` in the sandbox (a client of its running driver); resolves with the URL it prints.
 * `vmdesk`: the program to run (default: this build's). */
export async function startWebServer(sb: BenchSandbox, vmdesk = VMDESK): Promise<WebServer> {
  const child = spawn(process.execPath, [vmdesk, 'web'], { env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  sb.track(child);
  const url = await new Promise<URL>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/\S+#token=\S+)/.exec(out);
      if (m) resolve(new URL(m[1]!));
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`vmdesk web exited (${code}): ${err}${out}`)));
  });
  const token = decodeURIComponent(url.hash.replace(/^#token=/, ''));
  return {
    child,
    origin: url.origin,
    token,
    streamUrl: (name, params) =>
      `ws://${url.host}/stream?token=${encodeURIComponent(token)}&name=${encodeURIComponent(name)}&params=${encodeURIComponent(JSON.stringify(params))}`,
  };
}
