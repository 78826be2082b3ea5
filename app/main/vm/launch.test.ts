/**
 * The host-port check before a start, against real sockets on this machine: a port another
 * program listens on, one a running VM forwards, an address that is not this computer's.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { PortForward } from '../common/vm-types.js';
import { VmdeskError } from '../common/errors.js';
import { assertForwardsFree } from './launch.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** A TCP listener on `host` at a free port, held until the test ends; its port. */
async function holdTcp(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ port: 0, host }, resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

async function holdUdp(host: string): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind({ port: 0, address: host }, resolve));
  closers.push(() => new Promise((resolve) => sock.close(() => resolve())));
  return sock.address().port;
}

async function thrown(p: Promise<unknown>): Promise<VmdeskError> {
  const err = await p.then(
    () => new Error('expected a VmdeskError, got none'),
    (e: unknown) => e,
  );
  if (err instanceof VmdeskError) return err;
  throw err;
}

const vm = (forwards: PortForward[]) => ({ name: 'web', network: { mode: 'user' as const, forwards } });
const tcp = (hostPort: number, hostAddr = '127.0.0.1'): PortForward => ({
  proto: 'tcp',
  hostAddr,
  hostPort,
  guestPort: 22,
});

describe('assertForwardsFree', () => {
  it('passes when every host port can be listened on, and leaves it free for QEMU', async () => {
    const port = await holdTcp('127.0.0.1');
    await closers.pop()!();
    await expect(assertForwardsFree(vm([tcp(port)]), [])).resolves.toBeUndefined();
    await expect(holdTcp('127.0.0.1')).resolves.toBeGreaterThan(0);
  });

  // Was a bug: QEMU failed the start with "Could not set up host forwarding rule".
  it('refuses a port another program listens on, naming the program (here: this test)', async () => {
    const port = await holdTcp('127.0.0.1');
    const err = await thrown(assertForwardsFree(vm([tcp(port)]), []));
    expect(err).toMatchObject({ code: 'invalid-state', details: { field: 'forward', pid: process.pid } });
    const comm = fs.readFileSync('/proc/self/comm', 'utf8').trim();
    expect(err.message).toBe(
      `Host port tcp 127.0.0.1:${port} is in use by another program (${comm}, pid ${process.pid}). Stop it, or give "web" another host port.`,
    );
  });

  it('refuses 127.0.0.1:P while another program listens on 0.0.0.0:P', async () => {
    const port = await holdTcp('0.0.0.0');
    expect((await thrown(assertForwardsFree(vm([tcp(port)]), []))).message).toMatch(/in use by another program/);
  });

  it('refuses a UDP port in use, and does not confuse it with TCP', async () => {
    const port = await holdUdp('127.0.0.1');
    const udp: PortForward = { proto: 'udp', hostAddr: '127.0.0.1', hostPort: port, guestPort: 53 };
    expect((await thrown(assertForwardsFree(vm([udp]), []))).message).toMatch(/udp 127.0.0.1:\d+ is in use/);
  });

  it('names the running VM that forwards the port (0.0.0.0 covers every address)', async () => {
    const port = await holdTcp('127.0.0.1');
    await closers.pop()!();
    const err = await thrown(assertForwardsFree(vm([tcp(port)]), [{ vm: 'db', forward: tcp(port, '0.0.0.0') }]));
    expect(err.message).toBe(
      `Host port tcp 127.0.0.1:${port} is forwarded by the running VM "db". Stop that VM first, or give "web" another host port.`,
    );
  });

  it('refuses an address that is not this computer’s', async () => {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to a host.
    const err = await thrown(assertForwardsFree(vm([tcp(40022, '192.0.2.1')]), []));
    expect(err).toMatchObject({ code: 'invalid-argument' });
    expect(err.message).toMatch(/192.0.2.1 .* is not an address of this computer/);
  });
  // Not tested here: a port below 1024 as a normal user (EACCES, its own sentence). These tests
  // run as root, which may listen there.
});

describe('a definition an older vmdesk wrote', () => {
  it('loads with two forwards on one host socket, and its start is refused in a sentence', async () => {
    const err = await thrown(assertForwardsFree(vm([tcp(40022), tcp(40022, '0.0.0.0')]), []));
    expect(err).toMatchObject({ code: 'invalid-argument', details: { field: 'forward' } });
    expect(err.message).toMatch(/^"web" cannot start: The forwards tcp 127.0.0.1:40022 and tcp 0.0.0.0:40022 want/);
  });
});
