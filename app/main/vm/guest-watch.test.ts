/**
 * GuestWatch against a scripted agent on a real unix socket (a real agent needs a booted guest:
 * e2e/windows-ready.int.test.ts has one). QEMU's VSERPORT_CHANGE events are what a run's QMP
 * client hands it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeGuestAgent } from '../qemu/testing/fake-guest-agent.js';
import { GUEST_AGENT_DEVICE, GuestWatch, type GuestState } from './guest-watch.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vd-gw-'));
  const sock = path.join(dir, 'qga.sock');
  const agent = await FakeGuestAgent.start(sock);
  agent.replies.set('guest-get-host-name', { return: { 'host-name': 'win11' } });
  agent.replies.set('guest-get-osinfo', {
    return: { id: 'mswindows', name: 'Microsoft Windows', 'pretty-name': 'Windows 11 Pro' },
  });
  agent.replies.set('guest-network-get-interfaces', {
    return: [
      { name: 'lo', 'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': '127.0.0.1', prefix: 8 }] },
      { name: 'Ethernet', 'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': '10.0.2.15', prefix: 24 }] },
    ],
  });
  const states: GuestState[] = [];
  const lines: string[] = [];
  const watch = new GuestWatch(
    sock,
    (s) => states.push(s),
    (l) => lines.push(l),
  );
  cleanups.push(() => {
    watch.close();
    agent.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { agent, watch, states, lines };
}

const portEvent = (open: boolean, id = GUEST_AGENT_DEVICE) => ({
  event: 'VSERPORT_CHANGE',
  data: { id, open },
  timestamp: { seconds: 0, microseconds: 0 },
});

describe('GuestWatch', () => {
  it('reads name, OS and addresses when the guest opens the agent port, and forgets them when it closes', async () => {
    const { watch, states, lines } = await setup();
    expect(watch.state).toEqual({ connected: false });
    watch.onQmpEvent(portEvent(true));
    await watch.read();
    expect(watch.state).toMatchObject({
      connected: true,
      info: {
        hostname: 'win11',
        os: { prettyName: 'Windows 11 Pro' },
        addresses: [{ iface: 'Ethernet', address: '10.0.2.15', prefix: 24, family: 'ipv4' }],
      },
    });
    expect(states.at(-1)?.connected).toBe(true);
    expect(lines).toContain('the guest agent answers (Windows 11 Pro)');
    watch.onQmpEvent(portEvent(false));
    expect(watch.state).toEqual({ connected: false });
    expect(states.at(-1)).toEqual({ connected: false });
  });

  it('ignores other ports and other events', async () => {
    const { watch, agent } = await setup();
    watch.onQmpEvent(portEvent(true, 'some-other-port'));
    watch.onQmpEvent({ event: 'RESUME', timestamp: { seconds: 0, microseconds: 0 } } as never);
    await new Promise((r) => setTimeout(r, 50));
    expect(agent.received).toEqual([]);
    expect(watch.state.connected).toBe(false);
  });

  it('stays disconnected, without an error, when no agent answers', async () => {
    const { watch, agent, states } = await setup();
    agent.sleep();
    const fast = new GuestWatch(
      agent.path,
      (s) => states.push(s),
      () => undefined,
    );
    // The default timeout is 3 s; this read waits for it and must then settle quietly.
    await fast.read();
    fast.close();
    expect(fast.state).toEqual({ connected: false });
    expect(watch.state).toEqual({ connected: false });
  }, 20_000);
});
