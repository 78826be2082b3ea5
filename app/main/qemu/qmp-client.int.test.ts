// QmpClient against a real QEMU (TCG, no guest: the firmware alone is enough for QMP).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QmpClient } from './qmp-client.js';
import { QmpCommandError } from './qmp-types.js';
import type { QmpEvent } from './qmp-types.js';

interface Qemu {
  child: ChildProcess;
  socketPath: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

const running: Qemu[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const qemu of running.splice(0)) {
    if (qemu.child.exitCode === null && qemu.child.signalCode === null) qemu.child.kill('SIGKILL');
    await qemu.exited;
  }
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Starts a paused QEMU (-S) with QMP on a unix socket; the socket appears a little later. */
function startQemu(): Qemu {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-'));
  dirs.push(dir);
  const socketPath = path.join(dir, 'q.sock');
  const argv = [
    '-accel',
    'tcg',
    '-M',
    'q35',
    '-m',
    '64',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-S',
    '-chardev',
    `socket,id=qmp,path=${socketPath},server=on,wait=off`,
    '-mon',
    'chardev=qmp,mode=control',
  ];
  const child = spawn('qemu-system-x86_64', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const qemu = { child, socketPath, exited, stderr: () => stderr };
  running.push(qemu);
  return qemu;
}

describe('QmpClient with QEMU', () => {
  it('negotiates with a paused QEMU, follows cont/stop through events, and quits it', async () => {
    const qemu = startQemu();
    const client = new QmpClient(qemu.socketPath, { connectRetryMs: 30_000 });
    const events: QmpEvent[] = [];
    client.onEvent((e) => events.push(e));
    const closed = new Promise<Error | undefined>((resolve) => client.onClose(resolve));
    try {
      await client.connect();
      expect(client.state).toBe('running');
      expect(client.greeting?.version.major).toBeGreaterThanOrEqual(7);

      await expect(client.execute('query-status')).resolves.toMatchObject({ running: false, status: 'prelaunch' });

      await client.execute('cont');
      await vi.waitFor(() => expect(events.map((e) => e.event)).toContain('RESUME'), { timeout: 30_000 });
      await expect(client.execute('query-status')).resolves.toMatchObject({ running: true, status: 'running' });

      await client.execute('stop');
      await vi.waitFor(() => expect(events.map((e) => e.event)).toContain('STOP'), { timeout: 30_000 });
      expect(events.find((e) => e.event === 'STOP')?.timestamp.seconds).toBeGreaterThan(0);

      const version = await client.execute<{ qemu: object; package: string }>('query-version');
      expect(version.qemu).toEqual(client.greeting?.version);
      expect(version.package).toBe(client.greeting?.package);

      const refused = await client.execute('no-such-command').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(QmpCommandError);
      expect(refused).toMatchObject({ errorClass: 'CommandNotFound' });

      await expect(client.execute('quit')).resolves.toEqual({});
      await expect(qemu.exited).resolves.toEqual({ code: 0, signal: null });
      await expect(closed).resolves.toBeUndefined();
      expect(client.state).toBe('closed');
      expect(events.at(-1)).toMatchObject({ event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' } });
      expect(qemu.stderr()).toBe('');
    } finally {
      await client.close();
    }
  });
});
