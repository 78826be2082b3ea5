/**
 * Cloning (vm.clone, in process): a linked clone of a VM with a 1 GiB disk (target ≤ 100 ms:
 * one overlay, two definitions saved), and a full clone's copy throughput against
 * `cp --reflink=never` of the same file (target ≥ 0.9×). The disk is 1 GiB of random data, so
 * neither side can skip holes; each clone is deleted before the next round. The full clone
 * syncs its copy to disk before it saves the definition that names it (cp does not), so a
 * second reference row, cp followed by `sync` of the file, shows what that costs.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createHostServices } from '../../app/main/vm/host-adapter.js';
import { VmManager } from '../../app/main/vm/vm-manager.js';
import type { BenchContext } from './context.js';
import { BenchSandbox } from './sandbox.js';
import { interleave, median, stopwatch, type Contender, type Figure } from './stats.js';

const DISK_BYTES = 2 ** 30;
const MB = 1e6;

function randomFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w', 0o600);
  const chunk = 8 * 2 ** 20;
  for (let done = 0; done < bytes; done += chunk) fs.writeSync(fd, crypto.randomBytes(Math.min(chunk, bytes - done)));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

export async function benchClone(ctx: BenchContext): Promise<Figure[]> {
  const sb = new BenchSandbox();
  sb.seedCache(ctx.cacheTemplate);
  const m = new VmManager(sb.paths, createHostServices(sb.paths));
  const disk = path.join(sb.root, 'disk.img');
  const linkedMs: number[] = [];
  const full: number[] = [];
  const cp: number[] = [];
  const cpSync: number[] = [];
  const copyTo = path.join(sb.root, 'cp.img');
  const throughput = (ms: number) => DISK_BYTES / MB / (ms / 1000);
  const linked: Contender = {
    name: 'linked clone (1 GiB disk)',
    async run(round) {
      const elapsed = stopwatch();
      await m.clone({ vm: 'bench', name: 'linked', linked: true });
      const ms = elapsed();
      await m.delete({ vm: 'linked' });
      if (round >= 0) linkedMs.push(ms);
    },
  };
  const vmdesk: Contender = {
    name: 'full clone (1 GiB of data)',
    async run(round) {
      const elapsed = stopwatch();
      await m.clone({ vm: 'bench', name: 'full' });
      const ms = elapsed();
      await m.delete({ vm: 'full' });
      if (round >= 0) full.push(throughput(ms));
    },
  };
  const copy = (sync: boolean): Contender => ({
    name: `cp --reflink=never${sync ? ' + sync' : ''}`,
    async run(round) {
      fs.rmSync(copyTo, { force: true });
      const elapsed = stopwatch();
      execFileSync('cp', ['--reflink=never', disk, copyTo]);
      if (sync) execFileSync('sync', [copyTo]);
      const ms = elapsed();
      fs.rmSync(copyTo, { force: true });
      if (round >= 0) (sync ? cpSync : cp).push(throughput(ms));
    },
  });
  try {
    await m.init();
    ctx.progress('writing a 1 GiB disk of random data');
    randomFile(disk, DISK_BYTES);
    await m.define({ name: 'bench', memoryMiB: 256, cpus: 1, disk: { path: disk } });
    await interleave([linked, vmdesk, copy(false), copy(true)], ctx.runs, ctx.progress);
    await m.detachAll();
  } finally {
    sb.cleanup();
  }
  const figures: Figure[] = [];
  const failed = (c: Contender, id: string, label: string, unit: Figure['unit']): Figure | undefined =>
    c.error ? { id, label, unit, samples: [], absent: 'failed', note: c.error.message } : undefined;
  const linkedLabel = 'linked clone of a VM with a 1 GiB disk (vm.clone --linked)';
  const l = median(linkedMs);
  figures.push(
    failed(linked, 'clone.linked', linkedLabel, 'ms') ?? {
      id: 'clone.linked',
      label: linkedLabel,
      unit: 'ms',
      samples: linkedMs,
      target: { text: '≤ 100 ms', pass: l <= 100 },
    },
  );
  const fullLabel = 'full clone of a 1 GiB disk: copy throughput (vm.clone, synced)';
  const f = median(full);
  const c = median(cp);
  const cs = median(cpSync);
  figures.push(
    failed(vmdesk, 'clone.full', fullLabel, 'MB/s') ?? {
      id: 'clone.full',
      label: fullLabel,
      unit: 'MB/s',
      samples: full,
      ratio: `${(f / c).toFixed(2)}× cp, ${(f / cs).toFixed(2)}× cp+sync`,
      target: { text: '≥ 0.9× cp --reflink=never', pass: f / c >= 0.9 },
    },
    { id: 'clone.cp', label: 'cp --reflink=never of the same file', unit: 'MB/s', samples: cp },
    { id: 'clone.cp-sync', label: 'cp --reflink=never, then sync of the copy', unit: 'MB/s', samples: cpSync },
  );
  return figures;
}
