/**
 * `vmdesk snapshot create VM NAME [--description T] [--disk-only] [--progress] [--json]`
 * `vmdesk snapshot list VM [--json]`, `vmdesk snapshot revert VM NAME [--json]`,
 * `vmdesk snapshot delete VM NAME [--json]`, `vmdesk snapshot rename VM NAME NEW [--json]`.
 *
 * A running or paused VM's snapshot holds its memory too; a stopped one's its disks. Ctrl+C while
 * one is taken cancels it, and no half snapshot stays.
 */
import crypto from 'node:crypto';
import type { SnapshotInfo } from '../common/contract.js';
import { parse, usageError } from './args.js';
import type { Call, OnInterrupt, Subscribe } from './clone-command.js';
import { table } from './format.js';

const USAGE =
  'Use `vmdesk snapshot list VM`, `vmdesk snapshot create VM NAME [--description T] [--disk-only]`, `vmdesk snapshot revert VM NAME`, `vmdesk snapshot delete VM NAME` or `vmdesk snapshot rename VM NAME NEW`.';

const onSigint: OnInterrupt = (handler) => {
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
};

export async function runSnapshot(
  args: string[],
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream },
  call: Call,
  subscribe?: Subscribe,
  onInterrupt: OnInterrupt = onSigint,
): Promise<number> {
  const [sub, ...rest] = args;
  const a = parse(rest, {
    description: { type: 'string' },
    'disk-only': { type: 'boolean' },
    progress: { type: 'boolean' },
  });
  const json = !!a.values.json;
  const [vm, name, newName, ...extra] = a.positionals;
  const want = (n: number) => {
    if (a.positionals.length !== n || extra.length > 0) throw usageError(USAGE);
  };
  const print = (value: unknown, text: string) => io.out.write(json ? JSON.stringify(value, null, 2) + '\n' : text);
  switch (sub) {
    case 'list': {
      want(1);
      const list = await call('snapshot.list', { vm: vm! });
      print(list, formatSnapshots(vm!, list));
      return 0;
    }
    case 'create': {
      want(2);
      const jobId = `cli-${crypto.randomUUID()}`;
      const unsubscribe = a.values.progress
        ? await subscribe?.((event, data) => {
            if (event === 'job.progress' && (data as { jobId: string }).jobId === jobId)
              io.err.write(`${(data as { what: string }).what}…\n`);
          })
        : undefined;
      const offInterrupt = onInterrupt(() => {
        io.err.write('Cancelling the snapshot…\n');
        void call('job.cancel', { jobId }).catch(() => undefined);
      });
      try {
        const s = await call('snapshot.create', {
          vm: vm!,
          name: name!,
          jobId,
          ...(typeof a.values.description === 'string' ? { description: a.values.description } : {}),
          ...(a.values['disk-only'] ? { diskOnly: true } : {}),
        });
        print(
          s,
          `Took snapshot "${s.name}" of "${vm}" (${s.withMemory ? `disks and memory, ${s.state}` : 'disks only'}).\n` +
            `Go back to it with: vmdesk snapshot revert "${vm}" "${s.name}"\n`,
        );
        return 0;
      } finally {
        offInterrupt();
        unsubscribe?.();
      }
    }
    case 'revert': {
      want(2);
      const after = await call('snapshot.revert', { vm: vm!, name: name! });
      print(after, `"${after.name}" is back at snapshot "${name}" and ${after.state}.\n`);
      return 0;
    }
    case 'delete': {
      want(2);
      const left = await call('snapshot.delete', { vm: vm!, name: name! });
      print(left, `Deleted snapshot "${name}" of "${vm}"; ${left.length} left.\n`);
      return 0;
    }
    case 'rename': {
      want(3);
      const s = await call('snapshot.update', { vm: vm!, name: name!, newName: newName! });
      print(s, `Snapshot "${name}" of "${vm}" is now "${s.name}".\n`);
      return 0;
    }
    default:
      throw usageError(USAGE);
  }
}

/** The tree as a table: children indented under their parent, the current one marked. */
export function formatSnapshots(vm: string, list: readonly SnapshotInfo[]): string {
  if (list.length === 0) return `"${vm}" has no snapshots. Take one: vmdesk snapshot create "${vm}" NAME\n`;
  const depth = new Map<string, number>();
  const rows = list.map((s) => {
    const d = s.parent === null ? 0 : (depth.get(s.parent) ?? 0) + 1;
    depth.set(s.name, d);
    const kind = s.withMemory ? `memory (${s.state})` : 'disks only';
    const size = s.vmStateBytes ? `${Math.round(s.vmStateBytes / 2 ** 20)} MiB` : '';
    return [
      `${'  '.repeat(d)}${s.name}${s.current ? '  ← you are here' : ''}`,
      s.createdAt.replace('T', ' ').slice(0, 19),
      kind,
      size,
      s.description ?? '',
    ];
  });
  return `${table([['SNAPSHOT', 'TAKEN (UTC)', 'HOLDS', 'MEMORY', 'DESCRIPTION'], ...rows])}\n`;
}
