/**
 * Drives the test guest's serial shell (see the contract at the top of e2e/guest/init) from an
 * e2e test: types a command, waits for a marker the shell prints after it, and returns what the
 * command printed in between, with its exit status.
 *
 * Two ways to reach the console:
 * - `openSerialSocket(path)`: QEMU's serial unix socket, for a QEMU a test runs itself.
 * - `attachVmdeskConsole(sandbox, vm)`: `vmdesk console VM`, for a VM the vmdesk driver runs.
 *   Not the socket `vmdesk info --json` names as `paths.serial`: QEMU's socket chardev serves
 *   one client at a time and the driver holds that connection for the VM's whole run (its serial
 *   hub), so a second client connects but is never read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { VMDESK } from '../support/cli.js';

export const READY = 'VMDESK-GUEST-READY';

/** A byte link to a guest's serial console. */
export interface SerialLink {
  /** Everything received since the link opened (for `vmdesk console`, the replay first). */
  text(): string;
  write(s: string): void;
  /** Set once the link is gone (QEMU exited, the console detached), with why. */
  ended(): string | undefined;
  close(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Connects to QEMU's serial socket (`-chardev socket,...,server=on,wait=off`), retrying for up to
 * `timeoutMs` while QEMU is still creating it.
 */
export async function openSerialSocket(sockPath: string, timeoutMs = 10_000): Promise<SerialLink> {
  const deadline = Date.now() + timeoutMs;
  let sock: net.Socket;
  for (;;) {
    try {
      sock = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(sockPath, () => resolve(s));
        s.once('error', reject);
      });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`cannot connect to the serial socket ${sockPath}: ${String(err)}`);
      await sleep(50);
    }
  }
  let text = '';
  let ended: string | undefined;
  sock.setEncoding('utf8').on('data', (d: string) => (text += d));
  sock.on('error', (err) => (ended ??= `serial socket error: ${err.message}`));
  sock.on('close', () => (ended ??= 'the serial socket closed (QEMU exited?)'));
  return {
    text: () => text,
    write: (s) => void sock.write(s),
    ended: () => ended,
    close: () => sock.destroy(),
  };
}

/** What `attachVmdeskConsole` needs of a `Sandbox` (e2e/support/cli.ts). */
export interface ConsoleHost {
  env: NodeJS.ProcessEnv;
  /** Kills the console process in the sandbox's cleanup, should the test never close it. */
  track(child: ChildProcess): void;
}

/** Attaches `vmdesk console VM` (the real CLI through the sandbox's driver); close() detaches. */
export async function attachVmdeskConsole(host: ConsoleHost, vm: string, timeoutMs = 30_000): Promise<SerialLink> {
  const child = spawn(process.execPath, [VMDESK, 'console', vm], { env: host.env, stdio: ['pipe', 'pipe', 'pipe'] });
  host.track(child);
  let text = '';
  let err = '';
  let ended: string | undefined;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
  child.stdin.on('error', () => {}); // EPIPE after the console exited: ended() says so
  const attached = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`vmdesk console ${vm} did not attach within ${timeoutMs} ms: ${err}`)),
      timeoutMs,
    );
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('Press Ctrl+]')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      ended = `vmdesk console exited (${signal ?? code}): ${err.trim()}`;
      clearTimeout(timer);
      reject(new Error(ended));
    });
  });
  await attached;
  return {
    text: () => text,
    write: (s) => void child.stdin.write(s),
    ended: () => ended,
    close: () => {
      if (ended) return;
      child.stdin.end(Buffer.from([0x1d])); // Ctrl+]: detach
    },
  };
}

export interface RunResult {
  /** What the command wrote to stdout and stderr, lines joined by \n, without the final newline. */
  output: string;
  status: number;
}

let sequence = 0;

/** The guest's shell on one serial link. One command at a time (run() calls are queued). */
export class GuestShell {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly link: SerialLink) {}

  /** The last `chars` characters the console printed, for error messages. */
  tail(chars = 1500): string {
    return this.link.text().slice(-chars);
  }

  /**
   * Resolves with the index just past the first match of `needle` at or after `from`; rejects
   * after `timeoutMs`, or when the link ends, with the console's last output.
   */
  async waitFor(needle: string | RegExp, opts: { from?: number; timeoutMs?: number } = {}): Promise<number> {
    const { from = 0, timeoutMs = 60_000 } = opts;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.link.text();
      if (typeof needle === 'string') {
        const at = text.indexOf(needle, from);
        if (at >= 0) return at + needle.length;
      } else {
        const re = new RegExp(needle.source, needle.flags.replace('g', '') + 'g');
        re.lastIndex = from;
        const m = re.exec(text);
        if (m) return m.index + m[0].length;
      }
      const why = this.link.ended() ?? (Date.now() > deadline ? `not seen within ${timeoutMs} ms` : undefined);
      if (why) throw new Error(`guest console: ${String(needle)} ${why}; the console's last output:\n${this.tail()}`);
      await sleep(50);
    }
  }

  /**
   * Waits for the guest's ready marker, then until its shell answers: presses Enter (again every
   * 2 s: keys typed before the shell starts are lost) until a fresh prompt follows it.
   */
  async ready(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.waitFor(READY, { timeoutMs });
    for (;;) {
      const from = this.link.text().length;
      this.link.write('\n');
      try {
        await this.waitFor('# ', { from, timeoutMs: Math.min(2_000, Math.max(1, deadline - Date.now())) });
        return;
      } catch (err) {
        if (this.link.ended() || Date.now() > deadline) throw err;
      }
    }
  }

  /**
   * Runs `command` (one line of shell; may end with `&` to leave something running) with stdin
   * from /dev/null, in the shell itself (cd and variables persist). Resolves with its output and
   * exit status; rejects after `timeoutMs` with the console's last output. Call ready() first.
   */
  run(command: string, opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    const result = this.queue.then(() => this.runNow(command, opts.timeoutMs ?? 60_000));
    this.queue = result.catch(() => {});
    return result;
  }

  /** run(), but rejects unless the command exits 0; resolves with its output. */
  async check(command: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    const r = await this.run(command, opts);
    if (r.status !== 0)
      throw new Error(`guest command failed (exit ${r.status}): ${command}\n${r.output}\nconsole:\n${this.tail()}`);
    return r.output;
  }

  private async runNow(command: string, timeoutMs: number): Promise<RunResult> {
    if (command.includes('\n')) throw new Error(`run() takes one line of shell, not: ${JSON.stringify(command)}`);
    const token = `VMG${process.pid}x${++sequence}x${Math.random().toString(36).slice(2, 8)}`;
    // The line as typed is echoed back too: printf's arguments keep the markers ("TOKEN-begin",
    // "TOKEN-end-N") out of that echo, so only what the shell prints matches them.
    const body = command.trim().replace(/;\s*$/, '');
    const sep = body.endsWith('&') ? ' ' : ';';
    const from = this.link.text().length;
    this.link.write(
      `printf '%s-%s\\n' ${token} begin; { ${body}${sep} } </dev/null; printf '%s-end-%s\\n' ${token} $?\n`,
    );
    const context = (e: unknown) =>
      new Error(`guest command ${JSON.stringify(command)} did not finish: ${(e as Error).message}`);
    const begin = await this.waitFor(`${token}-begin\r\n`, { from, timeoutMs }).catch((e: unknown) => {
      throw context(e);
    });
    const endRe = new RegExp(`${token}-end-(\\d+)\\r?\\n`);
    const afterEnd = await this.waitFor(endRe, { from: begin, timeoutMs }).catch((e: unknown) => {
      throw context(e);
    });
    const text = this.link.text();
    const m = endRe.exec(text.slice(begin, afterEnd))!;
    // The next command is typed once the prompt is back (the tty line discipline would echo keys
    // typed while the shell is still between commands).
    await this.waitFor('# ', { from: afterEnd, timeoutMs }).catch((e: unknown) => {
      throw context(e);
    });
    const output = text
      .slice(begin, begin + m.index)
      .replace(/\r\n/g, '\n')
      .replace(/\r/g, '')
      .replace(/\n$/, '');
    return { output, status: Number(m[1]) };
  }
}

/**
 * Connects to 127.0.0.1:`port` (a QEMU hostfwd to a guest listener), writes `send` if given,
 * and resolves with everything read until the guest closes the connection.
 */
export function talkTcp(port: number, send?: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new Error(`127.0.0.1:${port}: no end of the conversation within ${timeoutMs} ms; got ${JSON.stringify(got)}`),
      );
    }, timeoutMs);
    sock.setEncoding('utf8').on('data', (d: string) => (got += d));
    sock.once('connect', () => {
      if (send !== undefined) sock.write(send);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`127.0.0.1:${port}: ${err.message}; got ${JSON.stringify(got)}`));
    });
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/**
 * The host's side of the QEMU guest agent (QGA) on a VM's `org.qemu.guest_agent.0` port, for
 * tests: QEMU's `-chardev socket,id=qga0,path=SOCK,server=on,wait=off` for that port. The guest
 * runs the real qemu-ga (see e2e/guest/init).
 */
export interface GuestAgentLink {
  /**
   * Sends `guest-sync-delimited` (a 0xFF byte first, so the agent drops any half-read input, and
   * its reply comes after a 0xFF) with a fresh id, again every 2 s, until the agent echoes one:
   * from then on replies pair with commands. Rejects after `timeoutMs`.
   */
  sync(timeoutMs?: number): Promise<void>;
  /** Runs a command that has a reply: resolves with its `return`, rejects with its `error`. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Sends a command that has no reply on success (`guest-shutdown`, `guest-suspend-*`). */
  send(command: string, args?: Record<string, unknown>): void;
  close(): void;
}

/** Connects to a VM's guest agent socket (retrying for up to 10 s while QEMU creates it). */
export async function openGuestAgent(sockPath: string): Promise<GuestAgentLink> {
  const deadline = Date.now() + 10_000;
  let sock: net.Socket;
  for (;;) {
    try {
      sock = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(sockPath, () => resolve(s));
        s.once('error', reject);
      });
      break;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`cannot connect to the guest agent socket ${sockPath}: ${String(err)}`);
      await sleep(50);
    }
  }
  // Replies are JSON lines. A 0xFF byte (never in UTF-8 JSON) precedes a delimited sync's reply:
  // whatever partial line came before it is dropped.
  const messages: Record<string, unknown>[] = [];
  let partial: Buffer[] = [];
  let ended: string | undefined;
  sock.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === 0xff) {
        partial = [];
        start = i + 1;
      } else if (chunk[i] === 0x0a) {
        const line = Buffer.concat([...partial, chunk.subarray(start, i)])
          .toString('utf8')
          .trim();
        partial = [];
        start = i + 1;
        if (line) messages.push(JSON.parse(line) as Record<string, unknown>);
      }
    }
    partial.push(chunk.subarray(start));
  });
  sock.on('error', (err) => (ended ??= `guest agent socket error: ${err.message}`));
  sock.on('close', () => (ended ??= 'the guest agent socket closed (QEMU exited?)'));

  /** The next message, or undefined after `ms`; rejects when the socket is gone. */
  const next = async (ms: number): Promise<Record<string, unknown> | undefined> => {
    const until = Date.now() + ms;
    for (;;) {
      const m = messages.shift();
      if (m) return m;
      if (ended) throw new Error(ended);
      if (Date.now() > until) return undefined;
      await sleep(20);
    }
  };
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = queue.then(fn);
    queue = result.catch(() => {});
    return result;
  };
  const write = (command: string, args?: Record<string, unknown>) =>
    sock.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);

  return {
    sync: (timeoutMs = 60_000) =>
      serial(async () => {
        const until = Date.now() + timeoutMs;
        while (Date.now() < until) {
          const id = Math.floor(Math.random() * 2 ** 31);
          sock.write(Buffer.from([0xff]));
          write('guest-sync-delimited', { id });
          for (let m = await next(2_000); m; m = await next(2_000)) if (m.return === id) return;
        }
        throw new Error(`the guest agent did not answer guest-sync-delimited within ${timeoutMs} ms`);
      }),
    execute: <T>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000) =>
      serial(async () => {
        write(command, args);
        const m = await next(timeoutMs);
        if (!m) throw new Error(`the guest agent did not answer ${command} within ${timeoutMs} ms`);
        if ('error' in m) throw new Error(`guest agent ${command}: ${JSON.stringify(m.error)}`);
        return m.return as T;
      }),
    send: (command, args) => void serial(async () => write(command, args)),
    close: () => sock.destroy(),
  };
}
