/**
 * A port forward added to a running VM: from the call to the host port accepting connections
 * (QEMU's hostfwd_add through QMP, and the definition saved). One VM runs for all rounds; each
 * round adds a forward on a fresh port, connects, and removes it again.
 */
import { createHostServices } from '../../app/main/vm/host-adapter.js';
import { VmManager } from '../../app/main/vm/vm-manager.js';
import { accepts, freePort } from '../../e2e/support/ports.js';
import type { BenchContext } from './context.js';
import { BenchSandbox } from './sandbox.js';
import { interleave, stopwatch, type Contender, type Figure } from './stats.js';

export async function benchForward(ctx: BenchContext): Promise<Figure[]> {
  const samples: number[] = [];
  const sb = new BenchSandbox();
  sb.seedCache(ctx.cacheTemplate);
  const m = new VmManager(sb.paths, createHostServices(sb.paths));
  const contender: Contender = {
    name: 'forward add → listening',
    async run(round) {
      const port = await freePort();
      const forward = { proto: 'tcp' as const, hostPort: port, guestPort: 22 };
      const elapsed = stopwatch();
      await m.addForward({ vm: 'bench', forward });
      const listening = await accepts(port);
      const ms = elapsed();
      if (!listening) throw new Error(`nothing listens on ${port} after vm.addForward`);
      await m.removeForward({ vm: 'bench', proto: 'tcp', hostPort: port });
      if (round >= 0) samples.push(ms);
    },
  };
  try {
    await m.init();
    await m.define({ name: 'bench', memoryMiB: 256, cpus: 1, cdrom: ctx.iso });
    await m.start({ vm: 'bench' });
    await interleave([contender], ctx.runs, ctx.progress);
    await m.stop({ vm: 'bench' });
    await m.detachAll();
  } finally {
    await sb.killQemus();
    sb.cleanup();
  }
  const label = 'port forward added to a running VM → host port accepts (vm.addForward + connect)';
  return contender.error
    ? [{ id: 'forward.add', label, unit: 'ms', samples, absent: 'failed', note: contender.error.message }]
    : [{ id: 'forward.add', label, unit: 'ms', samples }];
}
