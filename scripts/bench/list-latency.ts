/**
 * Row 4: `vm.list` with 200 defined VMs, two ways, interleaved: the CLI (`vmdesk list --json`,
 * wall time, while a `vmdesk driver` process owns the VMs, so the CLI is a control-socket
 * client) and the in-process call through the dispatcher (what the window's IPC handler runs).
 * Bare `node -e 0` runs alongside as a reference: no Node CLI can be faster than that, so the
 * CLI's own cost is judged as its time above Node's, round by round (issue 22: ≤ 20 ms).
 * The CLI runs as the installed `vmdesk` command runs: the file package.json's "bin" names.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createDispatcher, managerHandlers } from '../../app/main/ipc/dispatcher.js';
import { createHostServices } from '../../app/main/vm/host-adapter.js';
import { VmManager } from '../../app/main/vm/vm-manager.js';
import { driverMdevService } from '../../app/main/ipc/driver-link.js';
import { getNative } from '../../app/native/index.js';
import type { BenchContext } from './context.js';
import { BenchSandbox } from './sandbox.js';
import { REPO } from '../../e2e/support/cli.js';
import { interleave, median, stopwatch, type Contender, type Figure } from './stats.js';

/** The `vmdesk` command as npm installs it: package.json's "bin" (bin/vmdesk.cjs, CommonJS, skips
 * Node's ES module loader; bin/vmdesk.mjs, the older name, costs that loader's start-up). */
function installedCommand(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  return path.join(REPO, pkg.bin.vmdesk!);
}

/** `vmdesk ARGS` in the sandbox, as the installed command; ms = spawn → exit (with Node's start-up). */
function timedCommand(
  sb: BenchSandbox,
  command: string,
  args: string[],
): Promise<{ ms: number; code: number; stdout: string; stderr: string }> {
  const elapsed = stopwatch();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [command, ...args],
      { env: sb.env, encoding: 'utf8', maxBuffer: 1 << 26 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 99
          : 0;
        resolve({ ms: elapsed(), code, stdout, stderr });
      },
    );
  });
}

export async function benchList(ctx: BenchContext, template: BenchSandbox, defined: number): Promise<Figure[]> {
  const cliSb = new BenchSandbox().seedCache(ctx.cacheTemplate).copyDefinitionsFrom(template);
  // A second copy for the in-process manager: one driver per config dir, as the driver's rules say.
  const inSb = new BenchSandbox().seedCache(ctx.cacheTemplate).copyDefinitionsFrom(template);
  const cli: number[] = [];
  const inProcess: number[] = [];
  const bareNode: number[] = [];
  const command = installedCommand();
  try {
    await cliSb.startDriver();
    const host = createHostServices(inSb.paths);
    const m = new VmManager(inSb.paths, host);
    await m.init();
    const dispatcher = createDispatcher(
      managerHandlers(m, () => host.report(), driverMdevService(m, host, getNative(), undefined)),
    );
    const contenders: Contender[] = [
      {
        name: `vmdesk list --json (CLI, ${defined} VMs)`,
        async run(round) {
          const r = await timedCommand(cliSb, command, ['list', '--json']);
          if (r.code !== 0) throw new Error(`vmdesk list exited ${r.code}: ${r.stderr.trim()}`);
          const n = (JSON.parse(r.stdout) as unknown[]).length;
          if (n !== defined) throw new Error(`vmdesk list printed ${n} VMs, expected ${defined}`);
          if (round >= 0) cli.push(r.ms);
        },
      },
      {
        name: `vm.list in-process (${defined} VMs)`,
        async run(round) {
          const elapsed = stopwatch();
          const r = await dispatcher.dispatch('vm.list', {});
          const ms = elapsed();
          if (!r.ok) throw new Error(`vm.list failed: ${r.error.message}`);
          if ((r.result as unknown[]).length !== defined) throw new Error('vm.list returned the wrong number of VMs');
          if (round >= 0) inProcess.push(ms);
        },
      },
      {
        // Not a vmdesk figure: the floor under every CLI number on this machine. With the CLI's
        // environment: the bench's own may carry what slows every Node start-up (a
        // NODE_EXTRA_CA_CERTS bundle costs ~35 ms here), which the CLI runs do not have.
        name: 'node -e 0',
        async run(round) {
          const elapsed = stopwatch();
          await new Promise<void>((resolve, reject) =>
            execFile(process.execPath, ['-e', '0'], { env: cliSb.env }, (err) => (err ? reject(err) : resolve())),
          );
          if (round >= 0) bareNode.push(elapsed());
        },
      },
    ];
    await interleave(contenders, ctx.runs, ctx.progress);
    const fig = (i: number, id: string, label: string, samples: number[]): Figure => {
      const err = contenders[i]!.error;
      return err
        ? { id, label, unit: 'ms', samples, absent: 'failed', note: err.message }
        : { id, label, unit: 'ms', samples };
    };
    // Paired by round (each round runs the three back to back), so a slow spell of the machine
    // lands on both sides of the difference.
    const paired = cli.length === bareNode.length && cli.length > 0;
    const overNode: Figure = paired
      ? {
          id: 'list.cli.overnode',
          label: `\`vmdesk list --json\`, ${defined} VMs, above bare Node in the same round (CLI − \`node -e 0\`)`,
          unit: 'ms',
          samples: cli.map((ms, i) => ms - bareNode[i]!),
        }
      : { id: 'list.cli.overnode', label: 'CLI above bare Node', unit: 'ms', samples: [], absent: 'failed' };
    overNode.target = {
      text: '≤ 20 ms',
      pass: overNode.absent ? undefined : median(overNode.samples) <= 20,
    };
    return [
      fig(
        0,
        'list.cli',
        `\`vmdesk list --json\`, ${defined} VMs, CLI (${path.relative(REPO, command)}) → driver socket (incl. Node start-up)`,
        cli,
      ),
      fig(1, 'list.inprocess', `\`vm.list\`, ${defined} VMs, in-process through the dispatcher`, inProcess),
      fig(2, 'reference.node', 'reference: bare Node start-up, `node -e 0` (floor of every CLI figure)', bareNode),
      overNode,
    ];
  } finally {
    cliSb.cleanup();
    inSb.cleanup();
  }
}
