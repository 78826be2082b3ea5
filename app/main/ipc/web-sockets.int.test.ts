// `vmdesk web` as a client of the driver opens a VM's screen itself, against a real QEMU VNC
// server (TCG, no guest: `-machine none` serves VNC on its unix socket). The driver is a typed
// fake that answers vm.get with that socket and refuses to open streams, so bytes that arrive
// came straight from QEMU.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { WebSocket, type RawData } from 'ws';
import type { CallName, CallParams, CallResults } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import type { ByteStream } from '../consoles/byte-channel.js';
import { startWebServer, type WebServer } from './web-server.js';
import type { WebLink } from './web-sockets.js';

const TOKEN = 'int-test-token-0123456789';
let qemu: ChildProcess | undefined;
let server: WebServer | undefined;
let dir: string | undefined;

afterEach(async () => {
  await server?.close();
  qemu?.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it("connects a client-mode vmdesk web straight to a running VM's VNC socket, both ways", async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-webvnc-'));
  const vnc = path.join(dir, 'vnc.sock');
  const staticDir = path.join(dir, 'static');
  fs.mkdirSync(staticDir);
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html>');
  qemu = spawn(
    'qemu-system-x86_64',
    ['-accel', 'tcg', '-machine', 'none', '-nodefaults', '-no-user-config', '-display', 'none', '-vnc', `unix:${vnc}`],
    { stdio: 'ignore' },
  );
  await vi.waitFor(() => expect(fs.existsSync(vnc)).toBe(true), { timeout: 30_000 });
  const link: WebLink = {
    mode: 'client',
    async call<C extends CallName>(method: C, params: CallParams<C>): Promise<CallResults[C]> {
      expect(method).toBe('vm.get');
      const s: VmSummary = {
        id: '11111111-2222-4333-8444-555555555555',
        name: String((params as { vm: string }).vm),
        state: 'running',
        file: '/cfg/vms/web.json',
        paths: { qmp: '/q', serial: '/s', vnc, qemuLog: '/l', serialLog: '/l', driverLog: '/l' },
      };
      return s as CallResults[C];
    },
    subscribe: async () => () => {},
    openStream: async (): Promise<ByteStream> => {
      throw new VmdeskError('internal', 'The screen went through the driver.');
    },
  };
  server = await startWebServer({ link, staticDir, token: TOKEN });
  const params = encodeURIComponent(JSON.stringify({ vm: 'web' }));
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/stream?token=${TOKEN}&name=console.vnc&params=${params}`);
  const got: Buffer[] = [];
  ws.on('message', (d: RawData) => got.push(d as Buffer));
  const text = () => Buffer.concat(got).toString('latin1');
  await vi.waitFor(() => expect(text()).toBe('RFB 003.008\n'), { timeout: 10_000 });
  // The client's version: QEMU answers with its security types (one: None, as vmdesk sets none).
  ws.send(Buffer.from('RFB 003.008\n'));
  await vi.waitFor(() => expect(Buffer.concat(got).subarray(12)).toEqual(Buffer.from([1, 1])), { timeout: 10_000 });
  ws.terminate();
});
