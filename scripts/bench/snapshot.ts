/**
 * Live snapshots (issue 16): taking one of the booted 256 MiB test guest, and going back to it,
 * for vmdesk (snapshot.create / snapshot.revert in process), raw QMP on a raw QEMU started with
 * vmdesk's own argv (built from the very definition vmdesk made, its disk swapped for the raw
 * one; snapshot-save / snapshot-load, then query-jobs + job-dismiss as any caller must: the
 * floor), and libvirt's session mode
 * (`virsh snapshot-create-as` / `snapshot-revert`) on a domain with the same devices. Each system
 * boots its guest once, from the ISO with a 64 MiB qcow2 disk (where internal snapshots live);
 * timing starts once the guest printed VMDESK-GUEST-READY. A round takes a snapshot, goes back to
 * it, then deletes it (untimed), so every round saves the same amount of state.
 *
 * The VM has no shared clipboard: QEMU 7.2 cannot save a VM with its vdagent chardev, so vmdesk
 * unplugs it around every save and load (30–50 ms of QEMU's RCU batching) and a raw QEMU with it
 * could not snapshot at all; with it on one side only the two would not do the same work.
 *
 * vmdesk's take and revert are split into steps from the times its QMP commands were sent and
 * answered (the profile in the JSON output): what the driver adds to QEMU's own job.
 */
import crypto from 'node:crypto';
import { ChildProcess, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildQemuArgv } from '../../app/main/qemu/argv.js';
import { QmpClient } from '../../app/main/qemu/qmp-client.js';
import { vmFiles } from '../../app/main/paths/vm-files.js';
import { createHostServices } from '../../app/main/vm/host-adapter.js';
import { VmManager } from '../../app/main/vm/vm-manager.js';
import type { BenchContext } from './context.js';
import { LibvirtSession } from './libvirt.js';
import { onPath } from './machine.js';
import { startRawQemu, stopRawQemu, type RawQemu } from './raw-qemu.js';
import { BenchSandbox, qemuPidsUnder } from './sandbox.js';
import { interleave, median, sleep, stopwatch, type Contender, type Figure } from './stats.js';

const GUEST_READY = 'VMDESK-GUEST-READY';
const BOOT_TIMEOUT_MS = 240_000;
const DISK_BYTES = 64 * 2 ** 20;
/** vmdesk's name for the first disk's QEMU node (qemu/argv.ts numbers them by target: vda → disk0). */
const DISK_NODE = 'disk0';
/**
 * Untimed pause after each system's round. A guest that was just loaded runs hot for a moment
 * (TCG throws away its translated code on a load and translates again; libvirt's revert starts a
 * whole new QEMU): on two cores that would slow whichever system is timed next.
 */
const SETTLE_MS = 1000;

type Phases = Record<string, number[]>;
const push = (p: Phases, key: string, ms: number) => (p[key] ??= []).push(ms);

async function waitForText(file: string, text: string, what: string): Promise<void> {
  const deadline = performance.now() + BOOT_TIMEOUT_MS;
  while (performance.now() < deadline) {
    try {
      if (fs.readFileSync(file, 'utf8').includes(text)) return;
    } catch {
      /* not written yet */
    }
    await sleep(250);
  }
  throw new Error(`${what}: the guest did not print ${text} within ${BOOT_TIMEOUT_MS / 1000} s (see ${file})`);
}

/**
 * The least QMP a script needs for a snapshot job: send, then wait for the job's `concluded`
 * event. Reads the raw QEMU's socket next to raw-qemu.ts's own reader (which sees the same lines
 * and skips events), matching replies by id.
 */
class RawQmp {
  #buf = '';
  #next = 0;
  readonly #replies = new Map<string, (m: Record<string, unknown>) => void>();
  readonly #events = new Set<(m: Record<string, unknown>) => void>();

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: string) => {
      this.#buf += chunk;
      let nl: number;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(this.#buf.slice(0, nl)) as Record<string, unknown>;
        this.#buf = this.#buf.slice(nl + 1);
        if ('event' in msg) for (const l of this.#events) l(msg);
        else if (typeof msg.id === 'string') this.#replies.get(msg.id)?.(msg);
      }
    });
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = `b${this.#next++}`;
    const reply = new Promise<Record<string, unknown>>((resolve) => this.#replies.set(id, resolve));
    this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    const m = await reply;
    this.#replies.delete(id);
    if ('error' in m) throw new Error(`QMP ${command}: ${JSON.stringify(m.error)}`);
    return m.return;
  }

  /**
   * Runs a job to its end as any caller must (snapshot jobs are dismissed by hand, and only
   * query-jobs tells whether one failed): submit, the `concluded` event, then query-jobs and
   * job-dismiss sent together. All of it is timed.
   */
  async job(command: string, args: Record<string, unknown>): Promise<number> {
    const id = `raw-${this.#next}`;
    let off = () => {};
    const concluded = new Promise<void>((resolve) => {
      const l = (e: Record<string, unknown>) => {
        const d = e.data as { id?: string; status?: string } | undefined;
        if (e.event === 'JOB_STATUS_CHANGE' && d?.id === id && d.status === 'concluded') resolve();
      };
      this.#events.add(l);
      off = () => this.#events.delete(l);
    });
    const elapsed = stopwatch();
    await this.execute(command, { 'job-id': id, ...args });
    await concluded;
    off();
    const [jobs] = (await Promise.all([this.execute('query-jobs'), this.execute('job-dismiss', { id })])) as [
      { id: string; error?: string }[],
      unknown,
    ];
    const ms = elapsed();
    const error = jobs.find((j) => j.id === id)?.error;
    if (error) throw new Error(`${command} failed: ${error}`);
    return ms;
  }
}

interface QmpMark {
  command: string;
  sent: number;
  replied: number;
}

/**
 * Records when the driver's QMP commands were sent and answered, by wrapping QmpClient's execute
 * for the duration of this section (profiling only: the driver's code is untouched).
 */
function traceQmp(): { marks: QmpMark[]; restore(): void } {
  const marks: QmpMark[] = [];
  const proto = QmpClient.prototype;
  const original = proto.execute;
  proto.execute = function (this: QmpClient, command: string, args?: Record<string, unknown>, opts?: object) {
    const mark: QmpMark = { command, sent: performance.now(), replied: Number.NaN };
    marks.push(mark);
    const p = original.call(this, command, args, opts);
    // Registered before the caller's await, so it runs first: `replied` is when the reply arrived.
    p.then(
      () => (mark.replied = performance.now()),
      () => (mark.replied = performance.now()),
    );
    return p;
  } as typeof original;
  return { marks, restore: () => void (proto.execute = original) };
}

/**
 * Records when the driver ran qemu-img and when it exited (marks named `qemu-img ARG`), by
 * wrapping ChildProcess.prototype.spawn, which execFile calls, for the duration of this section.
 * That method is Node's own and undocumented: where it is missing the profile just lacks the
 * qemu-img step.
 */
function traceQemuImg(marks: QmpMark[]): () => void {
  type Spawn = (this: ChildProcess, opts: { file?: string; args?: string[] }) => unknown;
  const proto = ChildProcess.prototype as ChildProcess & { spawn?: Spawn };
  const original = proto.spawn;
  if (typeof original !== 'function') return () => undefined;
  proto.spawn = function (opts) {
    if (path.basename(opts.file ?? '') === 'qemu-img') {
      const mark: QmpMark = {
        command: `qemu-img ${opts.args?.[1] ?? ''}`,
        sent: performance.now(),
        replied: Number.NaN,
      };
      marks.push(mark);
      this.once('close', () => (mark.replied = performance.now()));
    }
    return original.call(this, opts);
  };
  return () => void (proto.spawn = original);
}

/**
 * The steps of one vmdesk take or revert from its QMP timeline (t0/t1: the call and its return).
 * Only the job itself must be there; a pause (stop/cont) or a screendump is counted when it is.
 */
function steps(marks: readonly QmpMark[], t0: number, t1: number, job: string): Record<string, number> {
  const at = marks.filter((m) => m.sent >= t0 && m.sent <= t1);
  const qemuImg = at.filter((m) => m.command.startsWith('qemu-img')).reduce((n, m) => n + (m.replied - m.sent), 0);
  const first = (c: string) => at.find((m) => m.command === c);
  const stop = first('stop');
  const dump = first('screendump');
  const submit = first(job);
  const dismiss = first('job-dismiss');
  const cont = first('cont');
  // runQmpJob sends query-jobs (with job-dismiss) right after the `concluded` event, and not before.
  const concluded = at.filter((m) => m.command === 'query-jobs' && dismiss && m.sent < dismiss.sent).pop();
  if (!submit || !dismiss || !concluded) return {};
  // vmdesk sends the screendump and, right behind it, the save: QEMU runs them in turn, so the
  // job starts in QEMU once the screendump is answered. That time is vmdesk's, not the job's.
  const jobStart = dump && dump.replied > submit.sent ? dump.replied : submit.sent;
  const out: Record<string, number> = { 'before the job (lock, checks, statfs, files)': submit.sent - t0 };
  if (stop) out['stop (QMP)'] = stop.replied - stop.sent;
  if (dump) out['screendump (QMP: QEMU writes the PPM)'] = dump.replied - dump.sent;
  out[`${job} job (QEMU starts it → concluded${dump ? '; the thumbnail is encoded meanwhile' : ''})`] =
    concluded.sent - jobStart;
  out['query-jobs + job-dismiss (and the saved size), sent together'] = dismiss.replied - concluded.sent;
  if (cont) out['cont (QMP)'] = cont.replied - cont.sent;
  if (qemuImg > 0) out['qemu-img (spawn → exit)'] = qemuImg;
  out['after the job: the rest (snapshots.json written + fsync, events)'] =
    t1 - dismiss.replied - (cont ? cont.replied - cont.sent : 0) - qemuImg;
  out['driver overhead (total − QEMU job)'] = t1 - t0 - (concluded.sent - jobStart);
  return out;
}

export async function benchSnapshot(ctx: BenchContext): Promise<Figure[]> {
  const qemuImg = onPath('qemu-img');
  if (!qemuImg) throw new Error('qemu-img not found on PATH: it comes with QEMU (Debian: qemu-utils)');
  const take = { raw: [] as number[], vmdesk: [] as number[], libvirt: [] as number[] };
  const revert = { raw: [] as number[], vmdesk: [] as number[], libvirt: [] as number[] };
  const takePhases: Phases = {};
  const revertPhases: Phases = {};
  /** Memory and device state saved by the last timed snapshot, per system (bytes): the same guest
   * should save about the same on each. */
  const stateBytes = { raw: 0, vmdesk: 0, libvirt: 0 };
  const savedState = (disk: string, tag: string): number => {
    const info = JSON.parse(execFileSync(qemuImg, ['info', '--output=json', '-U', disk], { encoding: 'utf8' })) as {
      snapshots?: { name: string; 'vm-state-size': number }[];
    };
    return info.snapshots?.find((x) => x.name === tag)?.['vm-state-size'] ?? 0;
  };
  let libvirtRestarts = 0;

  const vmSb = new BenchSandbox().seedCache(ctx.cacheTemplate);
  const rawSb = new BenchSandbox();
  const lvSb = ctx.virsh ? new BenchSandbox() : undefined;
  const libvirt = ctx.virsh && lvSb ? new LibvirtSession(ctx.virsh, lvSb) : undefined;
  const lvName = `vmdesk-bench-snap-${process.pid}`;
  let lvDefined = false;
  let lvDisk = '';
  const m = new VmManager(vmSb.paths, createHostServices(vmSb.paths));
  let raw: RawQemu | undefined;
  const trace = traceQmp();
  const untraceQemuImg = traceQemuImg(trace.marks);
  try {
    // All three boot at once (the slow part under TCG); measuring starts when all are ready.
    await m.init();
    const vm = await m.define({
      name: 'bench',
      memoryMiB: 256,
      cpus: 1,
      cdrom: ctx.iso,
      disk: { sizeBytes: DISK_BYTES },
      clipboard: false,
    });
    await m.start({ vm: vm.id });
    const booted: Promise<void>[] = [waitForText(vmFiles(vmSb.paths, vm.id).serialLog, GUEST_READY, 'vmdesk')];

    // The same definition vmdesk runs (devices, sound, agent channel, disk bus...), so the same argv.
    const def = structuredClone(m.get(vm.id).definition!);
    const rawFiles = vmFiles(rawSb.paths, def.id);
    for (const d of [rawFiles.runtimeDir, rawFiles.logDir, rawFiles.dataDir])
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    const rawDisk = path.join(rawFiles.dataDir, 'disk.qcow2');
    execFileSync(qemuImg, ['create', '-q', '-f', 'qcow2', rawDisk, String(DISK_BYTES)]);
    def.disks = [{ path: rawDisk, target: 'vda', format: 'qcow2', owned: true, readOnly: false }];
    const argv = buildQemuArgv(def, ctx.caps, rawFiles, { accel: ctx.accel });
    raw = await startRawQemu(ctx.caps.binary, argv, rawFiles.qemuLog, rawFiles.qmpSocket);
    const qmp = new RawQmp(raw.socket);
    booted.push(waitForText(rawFiles.serialLog, GUEST_READY, 'raw QEMU'));

    if (libvirt && lvSb) {
      lvDisk = path.join(lvSb.root, 'disk.qcow2');
      execFileSync(qemuImg, ['create', '-q', '-f', 'qcow2', lvDisk, String(DISK_BYTES)]);
      libvirt.own(lvDisk);
      lvDefined = true;
      const { serialLog } = await libvirt.startDomain({
        name: lvName,
        uuid: crypto.randomUUID(),
        iso: ctx.iso,
        emulator: ctx.caps.binary,
        accel: ctx.accel,
        disk: lvDisk,
      });
      booted.push(waitForText(serialLog, GUEST_READY, 'libvirt'));
    }
    ctx.progress('snapshots: waiting for the guests to boot (TCG: slow)');
    await Promise.all(booted);

    const contenders: Contender[] = [
      {
        name: 'raw QMP snapshot-save/load',
        async run(round) {
          const tag = `raw-${round + 1}`;
          const args = { tag, vmstate: DISK_NODE, devices: [DISK_NODE] };
          const t = await qmp.job('snapshot-save', args);
          if (round >= 0) stateBytes.raw = savedState(rawDisk, tag);
          const r = await qmp.job('snapshot-load', args);
          await qmp.job('snapshot-delete', { tag, devices: [DISK_NODE] });
          await sleep(SETTLE_MS);
          if (round < 0) return;
          take.raw.push(t);
          revert.raw.push(r);
        },
      },
      {
        name: 'vmdesk snapshot.create/revert (in process)',
        async run(round) {
          const name = `bench-${round + 1}`;
          const t0 = performance.now();
          const info = await m.snapshotCreate({ vm: vm.id, name });
          const t1 = performance.now();
          const after = await m.snapshotRevert({ vm: vm.id, name });
          const t2 = performance.now();
          await m.snapshotDelete({ vm: vm.id, name });
          await sleep(SETTLE_MS);
          if (after.state !== 'running') throw new Error(`after the revert the VM is ${after.state}, not running`);
          if (round < 0) return;
          take.vmdesk.push(t1 - t0);
          revert.vmdesk.push(t2 - t1);
          stateBytes.vmdesk = info.vmStateBytes ?? 0;
          for (const [k, v] of Object.entries(steps(trace.marks, t0, t1, 'snapshot-save'))) push(takePhases, k, v);
          for (const [k, v] of Object.entries(steps(trace.marks, t1, t2, 'snapshot-load'))) push(revertPhases, k, v);
          trace.marks.length = 0;
        },
      },
      {
        name: 'libvirt virsh snapshot-create-as/revert',
        skip: !libvirt,
        async run(round) {
          const name = `bench-${round + 1}`;
          const before = qemuPidsUnder(lvSb!.root).join();
          const t = await libvirt!.snapshotCreate(lvName, name);
          if (round >= 0) stateBytes.libvirt = savedState(lvDisk, name);
          const r = await libvirt!.snapshotRevert(lvName, name);
          await libvirt!.snapshotDelete(lvName, name);
          await sleep(SETTLE_MS);
          if (round < 0) return;
          take.libvirt.push(t);
          revert.libvirt.push(r);
          if (qemuPidsUnder(lvSb!.root).join() !== before) libvirtRestarts++;
        },
      },
    ];
    await interleave(contenders, ctx.runs, ctx.progress);
    return figures(contenders);
  } finally {
    trace.restore();
    untraceQemuImg();
    if (raw) await stopRawQemu(raw);
    await m.stop({ vm: 'bench' }).catch(() => undefined);
    await m.detachAll();
    if (libvirt && lvSb) await libvirt.close(lvDefined ? [lvName] : []);
    for (const sb of [vmSb, rawSb, ...(lvSb ? [lvSb] : [])]) {
      await sb.killQemus();
      sb.cleanup();
    }
  }

  function figures(cs: Contender[]): Figure[] {
    const [rawC, vmC, lvC] = cs as [Contender, Contender, Contender];
    const row = (c: Contender, id: string, label: string, samples: number[], extra: Partial<Figure> = {}): Figure => {
      if (c.error) return { id, label, unit: 'ms', samples, absent: 'failed', note: c.error.message };
      if (c.skip) return { id, label, unit: 'ms', samples: [], absent: 'not installed' };
      return { id, label, unit: 'ms', samples, ...extra };
    };
    const ok = (c: Contender, xs: number[]) => (c.error || c.skip ? undefined : median(xs));
    const judged = (what: 'take' | 'revert', s: typeof take): Partial<Figure> => {
      const v = ok(vmC, s.vmdesk);
      const r = ok(rawC, s.raw);
      const l = ok(lvC, s.libvirt);
      const ratios = [r !== undefined && v !== undefined ? `${(v / r).toFixed(2)}× raw` : undefined];
      if (l !== undefined && v !== undefined) ratios.push(`${(v / l).toFixed(2)}× libvirt`);
      const rawOk = v !== undefined && r !== undefined ? v <= 1.1 * r : undefined;
      const lvOk = v !== undefined && l !== undefined ? v < l : undefined;
      return {
        ratio: ratios.filter(Boolean).join(', ') || undefined,
        target: {
          text: l === undefined ? '≤ 1.1× raw QMP (libvirt n/a)' : '≤ 1.1× raw QMP, < libvirt',
          pass: rawOk === undefined ? undefined : rawOk && lvOk !== false,
        },
        phases: what === 'take' ? takePhases : revertPhases,
      };
    };
    const vsRaw = (xs: number[], rawXs: number[], c: Contender): Partial<Figure> => {
      const r = ok(rawC, rawXs);
      const x = ok(c, xs);
      return r !== undefined && x !== undefined ? { ratio: `${(x / r).toFixed(2)}× raw` } : {};
    };
    /** What the driver adds, per run: less noisy than a ratio of two totals that each include QEMU's job. */
    const overhead = (id: string, label: string, phases: Phases, rawXs: number[]): Figure => {
      const own = phases['driver overhead (total − QEMU job)'] ?? [];
      if (vmC.error || own.length === 0)
        return {
          id,
          label,
          unit: 'ms',
          samples: [],
          absent: 'failed',
          ...(vmC.error ? { note: vmC.error.message } : {}),
        };
      const r = ok(rawC, rawXs);
      return {
        id,
        label,
        unit: 'ms',
        samples: own,
        ...(r ? { ratio: `${((median(own) / r) * 100).toFixed(0)} % of raw` } : {}),
      };
    };
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    const size = stateBytes.vmdesk
      ? `; saved state in the qcow2: ${mib(stateBytes.vmdesk)} (raw ${mib(stateBytes.raw)}${lvC.skip || lvC.error ? '' : `, libvirt ${mib(stateBytes.libvirt)}`})`
      : '';
    const lvNote = {
      note: `virsh -c qemu:///session${process.getuid?.() === 0 ? ' as nobody (for root that URI is the system daemon)' : ''}; includes virsh's own start-up`,
    };
    return [
      row(
        rawC,
        'snapshot.take.raw',
        'live snapshot take (256 MiB guest): raw QMP snapshot-save, same argv (submit → concluded → dismissed)',
        take.raw,
      ),
      row(
        vmC,
        'snapshot.take.vmdesk',
        'live snapshot take (256 MiB guest): vmdesk snapshot.create, in process',
        take.vmdesk,
        {
          ...judged('take', take),
          note: `screendump, snapshot-save (PNG thumbnail encoded meanwhile), size over QMP; no shared clipboard on either side (QEMU 7.2 makes vmdesk unplug it around a save)${size}; its steps are in the JSON output (phaseMedians)`,
        },
      ),
      overhead(
        'snapshot.take.vmdesk-own',
        "take: vmdesk's own steps (its total − QEMU's snapshot-save job)",
        takePhases,
        take.raw,
      ),
      row(
        lvC,
        'snapshot.take.libvirt',
        'live snapshot take (256 MiB guest): libvirt `virsh snapshot-create-as`',
        take.libvirt,
        {
          ...vsRaw(take.libvirt, take.raw, lvC),
          ...lvNote,
        },
      ),
      row(
        rawC,
        'snapshot.revert.raw',
        'revert to a live snapshot: raw QMP snapshot-load (submit → concluded → dismissed, guest runs again)',
        revert.raw,
      ),
      row(
        vmC,
        'snapshot.revert.vmdesk',
        'revert to a live snapshot: vmdesk snapshot.revert, in process',
        revert.vmdesk,
        {
          ...judged('revert', revert),
        },
      ),
      overhead(
        'snapshot.revert.vmdesk-own',
        "revert: vmdesk's own steps (its total − QEMU's snapshot-load job)",
        revertPhases,
        revert.raw,
      ),
      row(
        lvC,
        'snapshot.revert.libvirt',
        'revert to a live snapshot: libvirt `virsh snapshot-revert`',
        revert.libvirt,
        {
          ...vsRaw(revert.libvirt, revert.raw, lvC),
          note: `${lvNote.note}${lvC.skip || lvC.error ? '' : `; libvirt restarted QEMU (new pid) in ${libvirtRestarts} of ${revert.libvirt.length} reverts`}`,
        },
      ),
    ];
  }
}
