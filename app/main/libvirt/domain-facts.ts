/**
 * What vmdesk reads from a running domain's XML and from its snapshots' XML (fast-xml-parser), and
 * how it reaches the domain's VNC server: the address libvirt gives, on this computer or, for an
 * SSH connection, through a tunnel on the host.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
import type { SnapshotInfo } from '../common/contract.js';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (name) => name === 'graphics' || name === 'listen',
});

export type VncEndpoint = { kind: 'tcp'; addr: string; port: number } | { kind: 'unix'; path: string };

type Node = Record<string, unknown>;
const obj = (x: unknown): Node => (x && typeof x === 'object' && !Array.isArray(x) ? (x as Node) : {});
const text = (x: unknown): string | undefined =>
  typeof x === 'string' ? x : typeof obj(x)['#text'] === 'string' ? (obj(x)['#text'] as string) : undefined;

/** The VNC server of a running domain (its live XML), or undefined when it has none. */
export function vncOfDomainXml(xml: string): VncEndpoint | undefined {
  const dom = obj(obj(parser.parse(xml))['domain']);
  const graphics = (obj(dom['devices'])['graphics'] as Node[] | undefined) ?? [];
  const vnc = graphics.find((g) => g['@type'] === 'vnc');
  if (!vnc) return undefined;
  const listens = (vnc['listen'] as Node[] | undefined) ?? [];
  const socket = (vnc['@socket'] as string | undefined) ?? listens.find((l) => l['@type'] === 'socket')?.['@socket'];
  if (typeof socket === 'string') return { kind: 'unix', path: socket };
  const port = Number(vnc['@port']);
  if (!Number.isInteger(port) || port <= 0) return undefined;
  const listen =
    (vnc['@listen'] as string | undefined) ??
    (listens.find((l) => l['@type'] === 'address')?.['@address'] as string | undefined) ??
    '127.0.0.1';
  // A server listening on every address is reached on loopback.
  const addr = listen === '0.0.0.0' || listen === '' ? '127.0.0.1' : listen === '::' ? '::1' : listen;
  return { kind: 'tcp', addr, port };
}

/** Connects to a VNC endpoint: directly, or through `tunnel` (a remote host's address and port). */
export async function connectVnc(
  vnc: VncEndpoint,
  tunnel?: (addr: string, port: number) => Promise<Duplex>,
): Promise<Duplex> {
  if (tunnel) {
    if (vnc.kind === 'unix')
      throw new Error(
        `The VM's display is a unix socket on the remote host (${vnc.path}); vmdesk reaches remote displays on a TCP port: set <graphics type='vnc' listen='127.0.0.1' autoport='yes'/> with virsh edit.`,
      );
    return tunnel(vnc.addr, vnc.port);
  }
  const sock = vnc.kind === 'unix' ? net.createConnection(vnc.path) : net.createConnection(vnc.port, vnc.addr);
  return new Promise((resolve, reject) => {
    sock.once('connect', () => {
      sock.off('error', reject);
      resolve(sock);
    });
    sock.once('error', (err) =>
      reject(
        new Error(
          `Could not reach the VM's display at ${vnc.kind === 'unix' ? vnc.path : `${vnc.addr}:${vnc.port}`}: ${err.message}.`,
        ),
      ),
    );
  });
}

/** A libvirt snapshot's XML (virDomainSnapshotGetXMLDesc) as the contract's SnapshotInfo. */
export function parseSnapshotXml(xml: string, current: boolean): SnapshotInfo {
  const s = obj(obj(parser.parse(xml))['domainsnapshot']);
  const state = text(s['state']) ?? 'shutoff';
  const memory = obj(s['memory'])['@snapshot'];
  const created = Number(text(s['creationTime']));
  const description = text(s['description']);
  return {
    name: text(s['name']) ?? '',
    ...(description ? { description } : {}),
    createdAt: new Date(Number.isFinite(created) ? created * 1000 : 0).toISOString(),
    state: state === 'running' ? 'running' : state === 'paused' ? 'paused' : 'stopped',
    withMemory: memory === 'internal' || memory === 'external' || (memory === undefined && state === 'running'),
    parent: text(obj(s['parent'])['name']) ?? null,
    current,
    thumbnail: false,
  };
}
