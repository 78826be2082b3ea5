// Boots the test guest under raw QEMU (TCG) and checks its whole contract: the ready marker on
// serial and VGA, a usable serial shell, and a clean ACPI power-off on QMP system_powerdown.
// Self-contained on purpose (own tiny QMP/serial helpers): it vets the guest that the real
// QEMU driver's integration tests then rely on.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureTestGuest, GUEST_ISO_ENV } from './guest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const READY = 'VMDESK-GUEST-READY';
const POWEROFF = 'VMDESK-GUEST-POWEROFF';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls cond every 50 ms; rejects after timeoutMs with what() as the explanation. */
async function waitUntil(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(50);
  }
}

/** Connects to a unix socket QEMU is about to create (server=on,wait=off), retrying briefly. */
async function connectUnix(sockPath: string): Promise<net.Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const sock = net.createConnection(sockPath, () => resolve(sock));
        sock.once('error', reject);
      });
    } catch (err) {
      if (attempt >= 200) throw err; // ~10 s
      await sleep(50);
    }
  }
}

interface Guest {
  qemu: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  serial: { text: () => string; write: (s: string) => void; closed: Promise<void> };
  qmpPath: string;
  dir: string;
  diagnostics: () => string;
}

async function bootGuest(iso: string): Promise<Guest> {
  // Short path: unix socket paths must stay under ~107 bytes.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmdg-'));
  const serialPath = path.join(dir, 'serial.sock');
  const qmpPath = path.join(dir, 'qmp.sock');
  // -accel tcg: guests hang under KVM on the CI machine. -no-reboot: a kernel panic (panic=1)
  // ends QEMU instead of looping. No -no-shutdown: a guest power-off ends the process.
  // logfile= keeps serial output produced before the test connects (for diagnostics).
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg',
      '-M',
      'q35',
      '-m',
      '256',
      '-nodefaults',
      '-no-user-config',
      '-no-reboot',
      '-display',
      'none',
      '-device',
      'VGA',
      '-cdrom',
      iso,
      '-chardev',
      `socket,id=s0,path=${serialPath},server=on,wait=off,logfile=${path.join(dir, 'serial.log')}`,
      '-serial',
      'chardev:s0',
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  qemu.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    qemu.once('exit', (code, signal) => resolve({ code, signal })),
  );
  cleanups.push(() => {
    if (running(qemu)) qemu.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const sock = await connectUnix(serialPath);
  cleanups.push(() => sock.destroy());
  let text = '';
  sock.setEncoding('utf8').on('data', (d: string) => (text += d));
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  return {
    qemu,
    exited,
    qmpPath,
    dir,
    serial: { text: () => text, write: (s) => sock.write(s), closed },
    diagnostics: () => `\n--- serial (tail) ---\n${text.slice(-2000)}\n--- qemu stderr ---\n${stderr}`,
  };
}

/** Minimal QMP: one command at a time; events are ignored. */
async function openQmp(sockPath: string) {
  const sock = await connectUnix(sockPath);
  cleanups.push(() => sock.destroy());
  const replies: Record<string, unknown>[] = []; // [0] is the greeting
  let buf = '';
  sock.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (!('event' in msg)) replies.push(msg);
    }
  });
  await waitUntil(
    () => replies.length > 0,
    10_000,
    () => 'QMP greeting',
  );
  let next = 1;
  return async (execute: string, args?: Record<string, unknown>): Promise<unknown> => {
    sock.write(`${JSON.stringify({ execute, arguments: args })}\n`);
    await waitUntil(
      () => replies.length > next,
      10_000,
      () => `QMP reply to ${execute}`,
    );
    const reply = replies[next++]!;
    if ('error' in reply) throw new Error(`QMP ${execute}: ${JSON.stringify(reply.error)}`);
    return reply.return;
  };
}

/** Share of non-black pixels in a binary PPM (P6, maxval 255), as QMP screendump writes it. */
function litFraction(ppm: Buffer): number {
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error('not a P6 PPM');
  const pixels = ppm.subarray(header[0].length);
  let lit = 0;
  for (let i = 0; i + 2 < pixels.length; i += 3) if (pixels[i]! + pixels[i + 1]! + pixels[i + 2]! > 96) lit++;
  return lit / (pixels.length / 3);
}

describe('test guest', () => {
  it('globalSetup exported the ISO path to this worker through process.env', async () => {
    const { iso } = await ensureTestGuest();
    expect(process.env[GUEST_ISO_ENV]).toBe(iso);
  });

  it('init parses vmdesk.timeout= from the kernel command line (safety power-off)', async () => {
    const { iso } = await ensureTestGuest();
    // The build keeps a copy of the init it packed next to the ISO.
    const init = readFileSync(path.join(path.dirname(iso), 'init'), 'utf8');
    expect(init).toBe(readFileSync(path.join(here, 'init'), 'utf8'));
    expect(init).toMatch(/timeout=\$\(parse_timeout "\$\(cat \/proc\/cmdline\)"\)/);
    expect(init).toMatch(/sleep "\$timeout" && \/bin\/vmdesk-poweroff/);
    // Run the function itself with the busybox that goes into the guest.
    const fn = /^parse_timeout\(\) \{\n[\s\S]*?^\}\n/m.exec(init)?.[0];
    expect(fn).toBeDefined();
    const parse = (cmdline: string) =>
      execFileSync('/bin/busybox', ['sh', '-c', `${fn}\nparse_timeout "$1"`, 'sh', cmdline], {
        encoding: 'utf8',
      }).trim();
    expect(parse('BOOT_IMAGE=/boot/vmlinuz console=ttyS0,115200 quiet vmdesk.timeout=42 panic=1')).toBe('42');
    expect(parse('console=tty0 quiet')).toBe('600');
    expect(parse('vmdesk.timeout=soon *')).toBe('600');
  });

  it('boots to the marker, runs a serial shell, and powers off on system_powerdown', async () => {
    const iso = process.env[GUEST_ISO_ENV] ?? (await ensureTestGuest()).iso;
    const started = Date.now();
    const guest = await bootGuest(iso);
    const { serial } = guest;
    const waitSerial = (needle: string, timeoutMs: number, from = 0) =>
      waitUntil(
        () => serial.text().includes(needle, from) || !running(guest.qemu),
        timeoutMs,
        () => `"${needle}" on serial${guest.diagnostics()}`,
      ).then(() => {
        if (!serial.text().includes(needle, from))
          throw new Error(`QEMU exited before "${needle}"${guest.diagnostics()}`);
      });

    await waitSerial(READY, 90_000);
    console.log(`test guest: ${READY} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The shell: wait for its prompt, then a command whose output differs from its echo.
    let from = serial.text().indexOf(READY);
    await waitSerial('# ', 30_000, from);
    serial.write('echo hello-$((6*7))\n');
    await waitSerial('hello-42', 30_000, from);
    // init respawns the shell when it exits.
    from = serial.text().length;
    serial.write('exit\n');
    await waitSerial('built-in shell', 30_000, from);
    serial.write('echo again-$((1+1))\n');
    await waitSerial('again-2', 30_000, from);

    const qmp = await openQmp(guest.qmpPath);
    await qmp('qmp_capabilities');

    // The VGA text console shows the marker banner: its reverse-video bars light ~6% of the
    // pixels; the console before init draws it (quiet kernel) lights ~0.2%.
    const ppm = path.join(guest.dir, 'vga.ppm');
    await qmp('screendump', { filename: ppm });
    expect(litFraction(readFileSync(ppm))).toBeGreaterThan(0.02);

    const powerdownAt = Date.now();
    await qmp('system_powerdown');
    const exit = await Promise.race([guest.exited, sleep(60_000).then(() => 'timeout' as const)]);
    expect(exit, `QEMU did not exit within 60 s of system_powerdown${guest.diagnostics()}`).not.toBe('timeout');
    console.log(`test guest: QEMU exited ${((Date.now() - powerdownAt) / 1000).toFixed(1)} s after system_powerdown`);
    expect(exit).toEqual({ code: 0, signal: null });
    await Promise.race([serial.closed, sleep(5_000)]); // drain the last serial bytes
    expect(serial.text()).toContain(POWEROFF);
  });
});
