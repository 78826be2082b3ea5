/**
 * Per-run isolation for the benchmark, on top of the integration tests' Sandbox (own
 * XDG_CONFIG/DATA/STATE/CACHE/RUNTIME dirs under a short /tmp path, VMDESK_ACCEL=tcg, cleanup
 * that kills the sandbox's QEMUs): the same isolation the tests trust, plus what only the
 * benchmark needs (a pre-warmed capability cache, bulk definitions, /proc readings).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { DEFINITION_VERSION, type VmDefinition, PLAIN_GUEST } from '../../app/main/common/vm-types.js';
import { resolveAppPaths, type AppPaths } from '../../app/main/paths/app-paths.js';
import { definitionsDir } from '../../app/main/paths/vm-files.js';
import { DefinitionStore } from '../../app/main/vm/definition-store.js';
import { qemuPidsUnder, Sandbox, VMDESK } from '../../e2e/support/cli.js';
import { sleep, stopwatch } from './stats.js';

export { qemuPidsUnder, VMDESK };

/** Every live sandbox, so Ctrl+C or a crash of the bench still kills its QEMUs and drivers. */
const live = new Set<BenchSandbox>();

export class BenchSandbox extends Sandbox {
  readonly paths: AppPaths;

  constructor() {
    // The bench sets VMDESK_ACCEL (tcg unless the user chose): CLI and driver runs must use the
    // accelerator the in-process and raw runs use, or the rows would not be comparable.
    super({ VMDESK_ACCEL: process.env.VMDESK_ACCEL ?? 'tcg' });
    live.add(this);
    this.paths = resolveAppPaths({
      env: this.env,
      platform: process.platform,
      home: this.root,
      uid: process.getuid?.() ?? 0,
      tmpdir: os.tmpdir(),
    });
  }

  /** Copies a probe cache made once by the bench, so the run sees a warm capability cache. */
  seedCache(templateDir: string): this {
    fs.cpSync(templateDir, this.paths.cache, { recursive: true });
    return this;
  }

  /** Writes definitions straight into the config dir through the driver's own store (schema
   * check, atomic write): the files `vmdesk define` leaves, without 200 round trips. */
  writeDefinitions(defs: readonly VmDefinition[]): this {
    const store = new DefinitionStore(definitionsDir(this.paths));
    for (const d of defs) store.save(d);
    return this;
  }

  /** Copies another sandbox's definitions (200 files written once, copied per run). */
  copyDefinitionsFrom(other: BenchSandbox): this {
    fs.cpSync(definitionsDir(other.paths), definitionsDir(this.paths), { recursive: true });
    return this;
  }

  /** `vmdesk ARGS` as a user types it; ms = spawn → exit (includes Node start-up). */
  async timedCli(args: string[]): Promise<{ ms: number; code: number; stdout: string; stderr: string }> {
    const elapsed = stopwatch();
    const r = await this.run(args);
    return { ms: elapsed(), ...r };
  }

  /** Kills the sandbox's QEMUs and waits until they are gone (a killed QEMU's CPU would skew the next run). */
  async killQemus(): Promise<void> {
    const pids = qemuPidsUnder(this.root);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (let i = 0; i < 200 && qemuPidsUnder(this.root).length > 0; i++) await sleep(10);
  }

  override cleanup(): void {
    live.delete(this);
    super.cleanup();
  }
}

export function cleanupAllSandboxes(): void {
  for (const s of [...live]) s.cleanup();
}

/** The VM every row uses: what `vmdesk define --name NAME --memory 256M --cdrom ISO` creates. */
export function benchDefinition(name: string, iso: string): VmDefinition {
  return {
    version: DEFINITION_VERSION,
    ...PLAIN_GUEST,
    id: crypto.randomUUID(),
    name,
    arch: 'x86_64',
    memoryMiB: 256,
    cpus: 1,
    accel: 'auto',
    firmware: 'bios',
    disks: [],
    cdroms: [iso],
    boot: ['cdrom', 'disk'],
    network: { mode: 'user', forwards: [] },
    display: 'std',
    nvram: null,
    mdevs: [],
    createdAt: new Date().toISOString(),
  };
}

/** utime + stime of a process in clock ticks (/proc/PID/stat fields 14 and 15). */
export function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Resident set size in MiB (/proc/PID/status VmRSS, which the kernel reports in kB). */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Starts a child and resolves with it once it printed `marker` on stdout. */
export function spawnReady(
  cmd: string,
  args: string[],
  marker: string,
  env?: NodeJS.ProcessEnv,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes(marker)) resolve(child);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before it was ready`)));
  });
}

/** A sandbox holding `n` stopped VMs (vm-001, vm-002, ...), to copy definitions from. */
export function definitionsTemplate(iso: string, n: number): BenchSandbox {
  const defs = Array.from({ length: n }, (_, i) => benchDefinition(`vm-${String(i + 1).padStart(3, '0')}`, iso));
  return new BenchSandbox().writeDefinitions(defs);
}
