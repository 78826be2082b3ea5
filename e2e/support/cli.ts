/**
 * Runs the real `vmdesk` CLI (bin/vmdesk.cjs → dist/cli) in isolated XDG directories, the way a
 * user runs it. Each sandbox has its own config/data/state/cache/runtime dirs under a short
 * /tmp path (unix socket paths must stay under 108 bytes).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const VMDESK = path.join(REPO, 'bin/vmdesk.cjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Sandbox {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly children: ChildProcess[] = [];

  constructor(extraEnv: NodeJS.ProcessEnv = {}) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmd-'));
    const dir = (n: string) => {
      const d = path.join(this.root, n);
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      return d;
    };
    this.env = {
      PATH: process.env.PATH,
      HOME: this.root,
      XDG_CONFIG_HOME: dir('c'),
      XDG_DATA_HOME: dir('d'),
      XDG_STATE_HOME: dir('s'),
      XDG_CACHE_HOME: dir('k'),
      XDG_RUNTIME_DIR: dir('r'),
      // This host's KVM hangs real guests: every test VM runs under TCG.
      VMDESK_ACCEL: 'tcg',
      ...extraEnv,
    };
  }

  run(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [VMDESK, ...args],
        { env: { ...this.env, ...opts.env }, timeout: opts.timeoutMs ?? 120_000, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err
            ? typeof (err as { code?: unknown }).code === 'number'
              ? (err as { code: number }).code
              : 99
            : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      else child.stdin?.end();
    });
  }

  async json<T>(args: string[], env?: NodeJS.ProcessEnv): Promise<T> {
    const r = await this.run([...args, '--json'], { env });
    if (r.code !== 0) throw new Error(`vmdesk ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Kill this process in cleanup(). */
  track(child: ChildProcess): void {
    this.children.push(child);
  }

  /**
   * A long-running `vmdesk driver` owner process; resolves once its control socket answers.
   * `wrap` runs it under another command (e.g. setpriv, to run it as another user).
   */
  async startDriver(env?: NodeJS.ProcessEnv, wrap: string[] = []): Promise<ChildProcess> {
    const [cmd, ...pre] = [...wrap, process.execPath];
    const child = spawn(cmd!, [...pre, VMDESK, 'driver'], {
      env: { ...this.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('vmdesk driver running')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`driver exited (${code}): ${err}`)));
    });
    return child;
  }

  /**
   * `vmdesk console VM`: once the guest's shell prompt is there (typing earlier gets mangled on
   * a loaded machine), types `keys`, waits for `expect` in the output, then presses Ctrl+].
   */
  console(
    vm: string,
    keys: string,
    expect: string,
    timeoutMs = 60_000,
    prompt = '/ # ',
  ): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [VMDESK, 'console', vm], { env: this.env });
      this.children.push(p);
      let out = '';
      let err = '';
      let typed = false;
      let attached = false;
      const timer = setTimeout(
        () => reject(new Error(`console: "${expect}" not seen; got ${JSON.stringify(out.slice(-300))} / ${err}`)),
        timeoutMs,
      );
      const maybeType = () => {
        if (typed || !attached) return;
        if (out.includes(prompt)) {
          typed = true;
          p.stdin.write(keys);
        } else if (out.includes('VMDESK-GUEST-READY')) {
          // The prompt may have scrolled out of the replay: Enter asks for a fresh one.
          p.stdin.write('\n');
        }
      };
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (typed && out.includes(expect)) p.stdin.write(Buffer.from([0x1d]));
        maybeType();
      });
      p.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('Press Ctrl+]')) {
          attached = true;
          maybeType();
        }
      });
      p.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, out, err });
      });
    });
  }

  /** Waits until `file` contains `text` (the guest writes its serial log through QEMU). */
  async waitForFileText(file: string, text: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        if (fs.readFileSync(file, 'utf8').includes(text)) return;
      } catch {
        /* not there yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`"${text}" did not appear in ${file} within ${timeoutMs} ms`);
  }

  /** Kills every process this sandbox started, including detached QEMUs (found by their paths). */
  cleanup(): void {
    for (const c of this.children) c.kill('SIGKILL');
    for (const pid of qemuPidsUnder(this.root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** QEMU processes whose command line mentions `dir` (all of a sandbox's QEMUs do, via -pidfile). */
export function qemuPidsUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.startsWith('/') && cmd.includes('qemu-system') && cmd.includes(dir)) pids.push(Number(name));
    } catch {
      /* raced with exit */
    }
  }
  return pids;
}

export function guestIso(): string {
  const iso = process.env.VMDESK_TEST_GUEST_ISO;
  if (!iso) throw new Error('VMDESK_TEST_GUEST_ISO is not set: the integration globalSetup builds the guest');
  return iso;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
