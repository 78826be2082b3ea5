import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { portOwner } from './port-owner.js';

const comm = fs.readFileSync('/proc/self/comm', 'utf8').trim();

describe('portOwner (real sockets, real /proc)', () => {
  it('names the process listening on a TCP port: this one', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(portOwner('tcp', port)).toEqual({ pid: process.pid, command: comm });
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(portOwner('tcp', port)).toBeUndefined();
  });

  it('names the process bound to a UDP port, and knows no owner of a port a client only connects from', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    try {
      expect(portOwner('udp', port)).toEqual({ pid: process.pid, command: comm });
      // TCP on the same number: nothing listens there.
      expect(portOwner('tcp', port)).toBeUndefined();
    } finally {
      sock.close();
    }
  });
});
