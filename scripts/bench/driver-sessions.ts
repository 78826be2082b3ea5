/**
 * A driver process for the memory-per-VM row (driver-load.ts bundles and runs it; not part of
 * the bench bundle): the real owner driver (openDriver: VmManager, control socket, dispatcher)
 * over the sandbox's XDG dirs, with the QEMU launcher swapped for the tests' FakeQemuLauncher, so
 * 50 "running" VMs cost no 50 guests. Each fake speaks QMP and serves a serial socket like QEMU,
 * in this same process: their sockets and objects count in the RSS too, so the figure errs high.
 *
 * Every VM is started through the contract (vm.start), its console history filled (the ring
 * buffer at its cap: what a chatty guest leaves) and one console viewer kept open on it, as a
 * window with every console open would. Prints one JSON line: RSS (MiB) after ready, and after
 * all of that, each after a full GC.
 *
 *   node --expose-gc driver-sessions.mjs N   (with the sandbox's XDG_* variables)
 */
import { DEFAULT_RING_BYTES } from '../../app/main/consoles/serial-hub.js';
import { openDriver } from '../../app/main/ipc/driver-link.js';
import { appPathsFromProcess } from '../../app/main/paths/app-paths.js';
import { FakeQemuLauncher } from '../../app/main/qemu/testing/fake-launcher.js';
import { createHostServices } from '../../app/main/vm/host-adapter.js';
import { getNative } from '../../app/native/index.js';

const settle = () => new Promise((r) => setTimeout(r, 500));

async function rssAfterGc(): Promise<number> {
  await settle();
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  await settle();
  return process.memoryUsage().rss / 2 ** 20;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2]);
  const paths = appPathsFromProcess();
  const launcher = new FakeQemuLauncher();
  const link = await openDriver({
    paths,
    kind: 'driver',
    host: createHostServices(paths),
    native: getNative(),
    managerOptions: { launcher },
    programDir: undefined,
  });
  const ready = await rssAfterGc();
  const vms = await link.call('vm.list', {});
  if (vms.length !== n) throw new Error(`expected ${n} defined VMs, found ${vms.length}`);
  for (const vm of vms) await link.call('vm.start', { vm: vm.id });
  const line = 'vmdesk bench: a guest that talks a lot on its serial console\r\n';
  const history = line.repeat(Math.ceil(DEFAULT_RING_BYTES / line.length));
  for (const p of launcher.procs) p.serialWrite(history);
  let received = 0;
  for (const vm of vms) {
    const s = await link.openStream('console.serial', { vm: vm.id });
    s.output.attach({ write: (c) => ((received += c.byteLength), true), end: () => {} });
  }
  const running = (await link.call('vm.list', {})).filter((v) => v.state === 'running').length;
  const loaded = await rssAfterGc();
  process.stdout.write(JSON.stringify({ ready, loaded, running, received }) + '\n');
  await link.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`driver-sessions: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
