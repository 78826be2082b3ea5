/**
 * libvirt hosts (issue 19): how long vmdesk takes to reach a libvirt host and list its domains,
 * three ways, interleaved: in-process through libvirt's client library (koffi; what the driver
 * does on connect), the CLI (`vmdesk --connect URI list --json`, a fresh owner each time: Node
 * start-up, connect, list, close), and `virsh -c URI list --all` as the reference. Runs against
 * qemu:///system when its daemon answers (`sudo bash e2e/support/libvirt-env.sh start`); the
 * rows say "not installed" otherwise.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { loadLibvirt } from '../../app/native/libvirt.js';
import type { BenchContext } from './context.js';
import { BenchSandbox } from './sandbox.js';
import { interleave, stopwatch, type Contender, type Figure } from './stats.js';

const URI = 'qemu:///system';

const run = (cmd: string, args: string[]) =>
  new Promise<void>((resolve, reject) =>
    execFile(cmd, args, { timeout: 60_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(),
    ),
  );

export async function benchLibvirtHosts(ctx: BenchContext): Promise<Figure[]> {
  const lv = loadLibvirt();
  // qemu:///system is the system daemon whoever asks; the user says whose permissions it checked.
  const as = `as ${process.getuid?.() === 0 ? 'root' : os.userInfo().username}`;
  // In-process against the library (what vmdesk's driver does), CLI against CLI.
  const rows = [
    [
      'libvirt.inprocess',
      `connect to ${URI} + list its domains, in-process (libvirt's client library through koffi; ${as})`,
    ],
    ['libvirt.cli', `\`vmdesk --connect ${URI} list --json\` CLI (incl. Node start-up, connect, close; ${as})`],
    ['libvirt.virsh', `reference: \`virsh -c ${URI} list --all\` CLI (${as})`],
  ] as const;
  const absent = (note: string): Figure[] =>
    rows.map(([id, label]) => ({ id, label, unit: 'ms', samples: [], absent: 'not installed', note }));
  if (!lv.ok) return absent(lv.reason);
  if (!ctx.virsh) return absent('virsh is not installed');
  try {
    await run(ctx.virsh, ['-c', URI, 'version']);
  } catch (err) {
    return absent(`${URI} does not answer: ${(err as Error).message.split('\n')[0]}`);
  }
  const sb = new BenchSandbox().seedCache(ctx.cacheTemplate);
  const samples: number[][] = [[], [], []];
  const contenders: Contender[] = [
    {
      name: 'libvirt in-process',
      async run(round) {
        const elapsed = stopwatch();
        const conn = await lv.client.open(URI);
        await conn.domains();
        const ms = elapsed();
        await conn.close();
        if (round >= 0) samples[0]!.push(ms);
      },
    },
    {
      name: 'vmdesk --connect list',
      async run(round) {
        const r = await sb.timedCli(['--connect', URI, 'list', '--json']);
        if (r.code !== 0) throw new Error(`vmdesk --connect exited ${r.code}: ${r.stderr.trim()}`);
        if (round >= 0) samples[1]!.push(r.ms);
      },
    },
    {
      name: 'virsh list',
      async run(round) {
        const elapsed = stopwatch();
        await run(ctx.virsh!, ['-c', URI, 'list', '--all']);
        if (round >= 0) samples[2]!.push(elapsed());
      },
    },
  ];
  try {
    await interleave(contenders, ctx.runs, ctx.progress);
  } finally {
    sb.cleanup();
  }
  return rows.map(([id, label], i) => {
    const err = contenders[i]!.error;
    return err
      ? { id, label, unit: 'ms', samples: samples[i]!, absent: 'failed', note: err.message }
      : { id, label, unit: 'ms', samples: samples[i]! };
  });
}
