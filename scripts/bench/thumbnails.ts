/**
 * Section `thumbnails` (issue 21): what the VM list's live screen pictures cost. One real guest
 * (TCG) is booted by an in-process VmManager; each run takes CAPTURES thumbnails back to back
 * through the driver's own path (a short RFB client on QEMU's VNC socket, scale, PNG, the write
 * to the VM's state dir) and measures the CPU that took: the driver's (process.cpuUsage) and
 * QEMU's (its /proc ticks during the captures, minus its ticks over an equally long idle window
 * right after, so the guest's own work is not counted).
 *
 * The load row is the per-capture cost times the rate the driver allows (one capture per VM
 * every THUMBNAIL_INTERVAL_MS, whatever the number of viewers) for N running VMs, all visible:
 * captures of different VMs do not share work, so the cost scales linearly with N.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { captureRfb } from '../../app/main/consoles/rfb-snapshot.js';
import { proxyVnc } from '../../app/main/consoles/vnc-proxy.js';
import { vmFiles } from '../../app/main/paths/vm-files.js';
import { createHostServices } from '../../app/main/vm/host-adapter.js';
import { ScreenThumbs, THUMBNAIL_INTERVAL_MS } from '../../app/main/vm/screen-thumbs.js';
import { VmManager } from '../../app/main/vm/vm-manager.js';
import type { BenchContext } from './context.js';
import { BenchSandbox, cpuTicks } from './sandbox.js';
import { median, sleep, type Figure } from './stats.js';

const GUEST_READY = 'VMDESK-GUEST-READY';
const BOOT_TIMEOUT_MS = 240_000;
const CAPTURES = 20;
/** The VM counts the load row is given for. */
const LOAD_FOR = [1, 4, 10];
/** /proc's clock ticks per second (USER_HZ; 100 on every Linux this runs on). */
const TICK_MS = 10;

async function waitForText(file: string, text: string): Promise<void> {
  const deadline = performance.now() + BOOT_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(text)) return;
    await sleep(250);
  }
  throw new Error(`the guest did not print ${text} within ${BOOT_TIMEOUT_MS / 1000} s (see ${file})`);
}

export async function benchThumbnails(ctx: BenchContext): Promise<Figure[]> {
  const sb = new BenchSandbox().seedCache(ctx.cacheTemplate);
  const m = new VmManager(sb.paths, createHostServices(sb.paths));
  const driverMs: number[] = [];
  const qemuMs: number[] = [];
  const wallMs: number[] = [];
  let size = '';
  try {
    await m.init();
    const vm = await m.define({ name: 'thumbs', memoryMiB: 256, cpus: 1, cdrom: ctx.iso });
    const started = await m.start({ vm: vm.id });
    ctx.progress('thumbnails: booting the guest');
    await waitForText(vmFiles(sb.paths, vm.id).serialLog, GUEST_READY);
    await sleep(2000); // the guest settles at its prompt
    const inst = m.resolve(vm.id);
    // Unthrottled here: the bench times captures, the interval is applied in the load row.
    const thumbs = new ScreenThumbs({ minIntervalMs: 0 });
    const src = {
      id: vm.id,
      running: true,
      file: inst.files.screenThumb,
      capture: async () => {
        const img = await captureRfb(proxyVnc(inst.vncSocket()));
        size = `${img.width}×${img.height}`;
        return img;
      },
    };
    const pid = started.pid!;
    for (let round = -1; round < ctx.runs; round++) {
      ctx.progress(`thumbnails ${round < 0 ? 'warm-up' : `run ${round + 1}/${ctx.runs}`}`);
      const q0 = cpuTicks(pid);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < CAPTURES; i++) await thumbs.get(src);
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      const q1 = cpuTicks(pid);
      await sleep(wall);
      const idle = cpuTicks(pid) - q1;
      if (round < 0) continue;
      driverMs.push((c.user + c.system) / 1000 / CAPTURES);
      qemuMs.push((Math.max(0, q1 - q0 - idle) * TICK_MS) / CAPTURES);
      wallMs.push(wall / CAPTURES);
    }
  } finally {
    await m.stop({ vm: 'thumbs' }).catch(() => undefined);
    await m.detachAll();
    await sb.killQemus();
    sb.cleanup();
  }
  const total = driverMs.map((d, i) => d + qemuMs[i]!);
  const note = `screen ${size}, thumbnail 240 px wide; QEMU's share from /proc ticks (10 ms resolution) minus an idle window`;
  const figures: Figure[] = [
    { id: 'thumbnails.capture.wall', label: 'Thumbnail: time per capture', unit: 'ms', samples: wallMs, note },
    { id: 'thumbnails.capture.driver', label: 'Thumbnail: driver CPU per capture', unit: 'ms', samples: driverMs },
    { id: 'thumbnails.capture.qemu', label: 'Thumbnail: QEMU CPU per capture', unit: 'ms', samples: qemuMs },
  ];
  for (const n of LOAD_FOR)
    figures.push({
      id: `thumbnails.load.${n}`,
      label: `Thumbnails: ${n} running VM${n > 1 ? 's' : ''} in view, one capture / ${THUMBNAIL_INTERVAL_MS / 1000} s each (% of one core)`,
      unit: '%',
      samples: total.map((ms) => (n * ms * 100) / THUMBNAIL_INTERVAL_MS),
      ...(n === LOAD_FOR[0]
        ? { note: `${median(total).toFixed(1)} ms of CPU per capture (driver + QEMU) × VMs ÷ interval` }
        : {}),
    });
  return figures;
}
