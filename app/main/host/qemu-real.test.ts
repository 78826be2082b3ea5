/** Against the real QEMU of this machine. A unit test, not *.int.test.ts: `-machine none` boots no
 * guest and the whole probe takes ~100 ms. Skipped (with a message) where no QEMU is installed. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deathSignalWrapper, nodeHostFs, nodeSpawnQmp } from './node-host-io.js';
import { probeHost } from './probe-host.js';
import { parseQemuCaps } from './qemu-caps.js';
import { findQemuSystem } from './qemu-discovery.js';
import { QMP_PROBE_ARGS, runQmpProbe } from './qmp-probe.js';
import { captureQmpFixture, QEMU_72_X86_FIXTURE } from './testing/qmp-fixture.js';

const found = await findQemuSystem(nodeHostFs, process.env, 'x86_64', 'x86_64');
const qemu = found.found ? found.path : undefined;
if (!qemu)
  console.warn(
    `[qemu-real.test] no qemu-system-x86_64 on this machine (${found.found ? '' : found.reason}): skipping the real-QEMU tests`,
  );

const cacheDir = mkdtempSync(path.join(tmpdir(), 'vmdesk-real-cache-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

describe.skipIf(!qemu)('the real QEMU on this machine', () => {
  it.runIf(process.env['VMDESK_REGENERATE_FIXTURES'] === '1')('regenerates the captured fixture', async () => {
    const fixture = await captureQmpFixture(qemu!, QEMU_72_X86_FIXTURE);
    console.info(`[qemu-real.test] wrote ${QEMU_72_X86_FIXTURE} from ${fixture.capturedFrom}`);
  });

  it('answers the one-exchange QMP probe with TCG, q35 and the devices it asks about', async () => {
    const caps = parseQemuCaps(qemu!, await runQmpProbe(nodeSpawnQmp, qemu!));
    expect(caps.arch).toBe('x86_64');
    expect(caps.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(caps.accels).toContain('tcg');
    expect(caps.machines).toContain('q35');
    expect(caps.devices).toEqual({ vfioPci: true, virtioVga: true });
  });

  it('finds each type it asks about exactly when qom-list-types (which loads every module) lists it', async () => {
    const caps = parseQemuCaps(qemu!, await runQmpProbe(nodeSpawnQmp, qemu!));
    const child = spawn(qemu!, QMP_PROBE_ARGS, { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stdin.write('{"execute":"qmp_capabilities"}\n{"execute":"qom-list-types","id":"types"}\n');
    const types = await new Promise<Set<string>>((resolve) => {
      child.stdout.on('data', () => {
        const line = out.split('\n').find((l) => /"id": ?"types"/.test(l));
        if (!line) return;
        child.stdin.end('{"execute":"quit"}\n');
        resolve(new Set((JSON.parse(line) as { return: { name: string }[] }).return.map((t) => t.name)));
      });
    });
    expect(types.size).toBeGreaterThan(100);
    const listed = (t: string): boolean => types.has(t);
    expect(caps.accels).toEqual((['kvm', 'hvf', 'tcg'] as const).filter((a) => listed(`${a}-accel`)));
    expect(caps.devices).toEqual({ vfioPci: listed('vfio-pci'), virtioVga: listed('virtio-vga') });
    // Debian builds virtio-vga as a loadable module: the probe must load it to see it.
    expect(caps.devices.virtioVga).toBe(true);
    // What the argv builder adds without asking (qemu/argv.ts), as every QEMU vmdesk supports has it.
    for (const t of ['VGA', 'virtio-net-pci', 'virtio-blk-pci', 'qemu-xhci', 'usb-tablet', 'virtio-serial-pci'])
      expect(listed(t), t).toBe(true);
  });

  it.runIf(process.platform === 'linux')(
    'a probe QEMU dies with a vmdesk that is killed mid-probe (it ignores stdin EOF)',
    async () => {
      const [file, argv] = deathSignalWrapper(qemu!, QMP_PROBE_ARGS);
      expect(file).toMatch(/setpriv$/);
      // A parent that starts the probe the way nodeSpawnQmp does, prints its pid, and is then killed.
      const parent = spawn(
        process.execPath,
        [
          '-e',
          `const c = require('node:child_process').spawn(${JSON.stringify(file)}, ${JSON.stringify(argv)}, { stdio: 'pipe' }); c.stdout.once('data', () => console.log(c.pid)); setInterval(() => {}, 1000);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const pid = await new Promise<number>((resolve) =>
        parent.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
      );
      const alive = (): boolean => {
        try {
          return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        } catch {
          return false;
        }
      };
      expect(alive()).toBe(true);
      parent.kill('SIGKILL');
      for (let i = 0; i < 500 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(alive()).toBe(false);
    },
    30_000,
  );

  it('probes the host cold, then answers from the cache in well under 100 ms', async () => {
    const cold = await probeHost({ cacheDir });
    const warm = await probeHost({ cacheDir });
    console.info(`[qemu-real.test] probeHost cold ${cold.probeMs} ms, warm ${warm.probeMs} ms`);
    expect(cold.qemu.x86_64).toMatchObject({ status: 'ok', fromCache: false });
    expect(warm.qemu.x86_64).toMatchObject({ status: 'ok', fromCache: true });
    expect(warm.probeMs).toBeLessThan(100);
    // It crosses IPC: plain JSON, nothing lost in a round trip.
    expect(JSON.parse(JSON.stringify(warm))).toEqual(warm);
  });
});
