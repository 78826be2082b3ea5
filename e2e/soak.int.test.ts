/**
 * Crash-restart soak: three VMs (one with a TPM, so a second process, swtpm, per run), random
 * operations in flight, and the owning driver killed with SIGKILL at a random moment (also
 * mid-start and mid-shutdown). After every kill a new process adopts the VMs; nothing may be lost,
 * run twice, or left behind (no swtpm or virtiofsd without its QEMU, never two swtpm).
 *
 * The default suite runs 10 rounds; `VMDESK_SOAK_ROUNDS=100 npx vitest run --project integration e2e/soak`
 * runs the long version. `VMDESK_SOAK_SEED` replays a failing run (the seed is printed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { guestIso, qemuPidsUnder, Sandbox, VMDESK } from './support/cli.js';
import { prng } from '../app/main/testing/prng.js';

const ROUNDS = Number(process.env.VMDESK_SOAK_ROUNDS ?? 10);
const SEED = Number(process.env.VMDESK_SOAK_SEED ?? Date.now() % 1_000_000);

function qemuPidsFor(root: string, id: string): number[] {
  return qemuPidsUnder(root).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(id);
    } catch {
      return false;
    }
  });
}

/** swtpm processes on a VM's TPM state (its command line names the VM's data dir). */
function swtpmPidsFor(root: string, id: string): number[] {
  return fs.readdirSync('/proc').flatMap((n) => {
    if (!/^\d+$/.test(n)) return [];
    try {
      const argv = fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0');
      return /(^|\/)swtpm$/.test(argv[0] ?? '') && argv.some((a) => a.includes(root) && a.includes(`${id}/tpm`))
        ? [Number(n)]
        : [];
    } catch {
      return [];
    }
  });
}

/** virtiofsd processes serving this sandbox's sockets (QEMU 7.2's forks once: parent and child). */
function virtiofsdPidsFor(root: string): number[] {
  return fs.readdirSync('/proc').flatMap((n) => {
    if (!/^\d+$/.test(n)) return [];
    try {
      const argv = fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0');
      return path.basename(argv[0] ?? '') === 'virtiofsd' && argv.some((a) => a.includes(root)) ? [Number(n)] : [];
    } catch {
      return [];
    }
  });
}

const s = new Sandbox();
afterAll(() => s.cleanup());

describe('crash-restart soak', () => {
  it(
    `survives ${ROUNDS} SIGKILLs of the owning driver with 3 VMs: none lost, none twice, nothing orphaned (seed ${SEED})`,
    async () => {
      console.log(`soak: ${ROUNDS} rounds, seed ${SEED}`);
      const rand = prng(SEED);
      const names = ['alpha', 'bravo', 'charlie'];
      const shareDir = path.join(s.root, 'shared');
      fs.mkdirSync(shareDir);
      for (const n of names)
        await s.json<VmSummary>([
          'define',
          '--name',
          n,
          '--memory',
          '192M',
          '--cdrom',
          guestIso(),
          ...(n === 'charlie' ? ['--tpm'] : []),
          // bravo shares a folder: a virtiofsd per run where vmdesk runs as root (as here), else 9p.
          ...(n === 'bravo' ? ['--share', `${shareDir}:soak`] : []),
        ]);
      const runtime = path.join(s.env.XDG_RUNTIME_DIR!, 'vmdesk');
      const runRecords = path.join(s.env.XDG_STATE_HOME!, 'vmdesk', 'run');
      const stats = {
        rounds: 0,
        killsMidOp: 0,
        ops: 0,
        adoptedRunning: 0,
        swtpmAdopted: 0,
        virtiofsdAdopted: 0,
        endedAfterAdoption: 0,
      };
      /** The VMs' runtime dirs (the first 8 hex digits of the id), and their run records (ids). */
      const runtimeDirs = () =>
        fs.existsSync(runtime)
          ? fs
              .readdirSync(runtime)
              .filter((n) => /^[0-9a-f]{8}$/.test(n))
              .sort()
          : [];
      const runRecordIds = () =>
        fs.existsSync(runRecords)
          ? fs
              .readdirSync(runRecords)
              .map((n) => n.replace(/\.json$/, ''))
              .sort()
          : [];

      for (let round = 0; round < ROUNDS; round++) {
        const driver = await s.startDriver();
        const before = await s.json<VmSummary[]>(['list']);
        // One random operation per VM, fired without waiting, then a kill at a random moment.
        const inflight: ChildProcess[] = [];
        for (const vm of before) {
          const op =
            vm.state === 'running'
              ? (['shutdown', 'stop', 'pause', 'reboot'] as const)[Math.floor(rand() * 4)]!
              : vm.state === 'paused'
                ? (['resume', 'stop'] as const)[Math.floor(rand() * 2)]!
                : 'start';
          inflight.push(spawn(process.execPath, [VMDESK, op, vm.name], { env: s.env, stdio: 'ignore' }));
          stats.ops++;
        }
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 1500)));
        if (inflight.some((c) => c.exitCode === null)) stats.killsMidOp++;
        driver.kill('SIGKILL');
        await new Promise((r) => driver.once('exit', r));
        // Commands still running lose their driver; some become the owner themselves. Let them end.
        await Promise.all(
          inflight.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))),
        );

        // A new process adopts everything.
        const after = await s.json<VmSummary[]>(['list']);
        expect(after.map((v) => v.name).sort(), `round ${round}: VMs lost`).toEqual(names);
        for (const vm of after) {
          const pids = qemuPidsFor(s.root, vm.id);
          expect(pids.length, `round ${round}: ${vm.name} runs ${pids.length} times`).toBeLessThanOrEqual(1);
          expect(
            ['running', 'paused', 'stopped', 'stopping'],
            `round ${round}: ${vm.name} is ${vm.state} (${vm.reason})`,
          ).toContain(vm.state);
          if (vm.state === 'running' || vm.state === 'paused') {
            expect(pids, `round ${round}: ${vm.name} is ${vm.state} but its QEMU is not`).toEqual([vm.pid]);
            stats.adoptedRunning++;
          } else if (vm.state === 'stopped') {
            expect(pids, `round ${round}: ${vm.name} is stopped but QEMU ${pids} runs`).toEqual([]);
          }
          if (vm.name === 'bravo') {
            const daemons = virtiofsdPidsFor(s.root);
            if (vm.state === 'stopped') expect(daemons, `round ${round}: an orphaned virtiofsd`).toEqual([]);
            if (daemons.length > 0) stats.virtiofsdAdopted++;
          }
          if (vm.name === 'charlie') {
            const tpms = swtpmPidsFor(s.root, vm.id);
            expect(tpms.length, `round ${round}: charlie has ${tpms.length} swtpm`).toBeLessThanOrEqual(1);
            if (vm.state === 'running' || vm.state === 'paused')
              expect(tpms.length, `round ${round}: charlie runs without its swtpm`).toBe(1);
            if (vm.state === 'stopped') expect(tpms, `round ${round}: an orphaned swtpm`).toEqual([]);
            if (tpms.length === 1) stats.swtpmAdopted++;
          }
        }
        // Nothing orphaned: runtime dirs and run records exist exactly for live QEMUs. One
        // exception: a QEMU the adopter saw running may end right after it (a shutdown or a stop
        // the killed driver had begun) while no driver runs, the adopter being a `vmdesk list`
        // that has exited; its dir and record then wait for the next owner, whose start must
        // sweep them: the next round checks that (that VM is stopped there, no exception).
        const live = after.filter((v) => qemuPidsFor(s.root, v.id).length === 1);
        const endedSince = new Set(
          after
            .filter((v) => v.pid !== undefined && !live.includes(v) && !fs.existsSync(`/proc/${v.pid}`))
            .map((v) => v.id),
        );
        if (endedSince.size > 0) stats.endedAfterAdoption++;
        const short = (id: string) => id.replace(/-/g, '').slice(0, 8);
        const waiting = new Set([...endedSince].map(short));
        const dirs = runtimeDirs().filter((d) => !waiting.has(d));
        const seen = after.map((v) => `${v.name} ${v.state}${v.pid ? ` pid ${v.pid}` : ''} ${short(v.id)}`).join(', ');
        expect(dirs, `round ${round}: orphaned runtime dirs (${seen})`).toEqual(live.map((v) => short(v.id)).sort());
        const records = runRecordIds().filter((id) => !endedSince.has(id));
        expect(records, `round ${round}: orphaned run records: ${records.join(' ')} (${seen})`).toEqual(
          live.map((v) => v.id).sort(),
        );
        stats.rounds++;
      }

      for (const n of names) await s.run(['stop', n]);
      expect(qemuPidsUnder(s.root)).toEqual([]);
      // What the last round may have left waiting is gone with the owners of these stops.
      expect(runtimeDirs(), 'runtime dirs after every VM stopped').toEqual([]);
      expect(runRecordIds(), 'run records after every VM stopped').toEqual([]);
      const charlie = (await s.json<VmSummary[]>(['list'])).find((v) => v.name === 'charlie')!;
      expect(swtpmPidsFor(s.root, charlie.id)).toEqual([]);
      expect(virtiofsdPidsFor(s.root)).toEqual([]);
      console.log(`soak: ${JSON.stringify(stats)}`);
    },
    60_000 + ROUNDS * 8_000,
  );
});
