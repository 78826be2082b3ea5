import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connectVnc, proxyVnc } from './vnc-proxy.js';

describe('proxyVnc input', () => {
  let dir: string;
  let sockPath: string;
  let server: net.Server;
  let conn: net.Socket | undefined;
  let got = 0;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-vnc-'));
    sockPath = path.join(dir, 'vnc.sock');
    got = 0;
    conn = undefined;
    // QEMU's VNC server, not reading (what a stuck display does to a client's input).
    server = net.createServer((c) => {
      conn = c;
      c.pause();
      c.on('error', () => {});
      c.on('data', (d: Buffer) => (got += d.length));
    });
    await new Promise<void>((r) => server.listen(sockPath, r));
  });
  afterEach(async () => {
    conn?.destroy();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says it is full while QEMU does not read, and tells the transport at the drain', async () => {
    const stream = proxyVnc(sockPath);
    let drained = 0;
    stream.onInputDrain!(() => drained++);
    // Before the connection is up, input waits: the transport is told to hold, then to go on.
    expect(stream.input(new Uint8Array([1, 2, 3]))).toBe(false);
    await vi.waitFor(() => expect(drained).toBe(1));
    const chunk = new Uint8Array(64 * 1024);
    let sent = 3;
    for (let accepted = true; accepted; sent += chunk.byteLength) {
      accepted = stream.input(chunk) !== false;
      expect(sent).toBeLessThan(32 * 1024 * 1024);
    }
    conn!.resume();
    await vi.waitFor(() => expect(drained).toBe(2), { timeout: 5000 });
    await vi.waitFor(() => expect(got).toBe(sent), { timeout: 5000 });
    stream.close();
  });
});

describe('proxyVnc to a connection made another way (a TCP port, an SSH tunnel)', () => {
  it('passes bytes both ways once the connection is there, input given before it included', async () => {
    const got: Buffer[] = [];
    const server = net.createServer((c) => {
      c.write('RFB 003.008\n');
      c.on('data', (d: Buffer) => got.push(d));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    let connect!: (s: net.Socket) => void;
    const stream = proxyVnc(new Promise<net.Socket>((r) => (connect = r)));
    const out: Uint8Array[] = [];
    stream.output.attach({ write: (c) => (out.push(c), true), end: () => {} });
    expect(stream.input(new TextEncoder().encode('early'))).toBe(false);
    const sock = net.createConnection(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    connect(sock);
    await vi.waitFor(() => expect(Buffer.concat(out).toString()).toBe('RFB 003.008\n'));
    stream.input(new TextEncoder().encode('-late'));
    await vi.waitFor(() => expect(Buffer.concat(got).toString()).toBe('early-late'));
    stream.close();
    await new Promise((r) => server.close(r));
  });

  it("ends the viewer with the connection's error as the reason", async () => {
    const stream = proxyVnc(Promise.reject(new Error("The SSH tunnel to the VM's display ended: Permission denied")));
    const ended = new Promise<string>((resolve) => stream.output.attach({ write: () => true, end: resolve }));
    expect(await ended).toMatch(/Permission denied/);
    stream.close();
  });
});

describe('connectVnc', () => {
  it('connects first, then passes bytes both ways, input included at once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-vnc-'));
    const sockPath = path.join(dir, 'vnc.sock');
    const got: Buffer[] = [];
    const conns: net.Socket[] = [];
    const server = net.createServer((c) => {
      conns.push(c);
      c.write('RFB 003.008\n');
      c.on('data', (d: Buffer) => got.push(d));
    });
    await new Promise<void>((r) => server.listen(sockPath, r));
    const stream = await connectVnc(sockPath);
    const out: Uint8Array[] = [];
    stream.output.attach({ write: (c) => (out.push(c), true), end: () => {} });
    // Connected already: input is not held for a connection to come.
    expect(stream.input(new TextEncoder().encode('RFB 003.008\n'))).toBe(true);
    await vi.waitFor(() => expect(Buffer.concat(out).toString()).toBe('RFB 003.008\n'));
    await vi.waitFor(() => expect(Buffer.concat(got).toString()).toBe('RFB 003.008\n'));
    stream.close();
    for (const c of conns) c.destroy();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects with the error when the socket cannot be reached, so the caller can go another way', async () => {
    await expect(connectVnc(path.join(os.tmpdir(), 'vmdesk-no-such-dir', 'vnc.sock'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});
