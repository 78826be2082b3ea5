/**
 * The shared clipboard at the protocol level, against real QEMU (TCG) and the test guest: a VNC
 * client on the VM's VNC socket sends ClientCutText; QEMU's vdagent chardev (clipboard=on) passes
 * it to the guest's com.redhat.spice.0 port as a spice-vdagent clipboard GRAB. The guest side is
 * a few shell lines standing in for spice-vdagent (it announces the clipboard capability and
 * records what arrives): the test guest has no spice-vdagent, and this is the protocol it speaks.
 * A snapshot with memory still works (the port is taken out for it) and the port comes back.
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { attachVmdeskConsole, GuestShell } from './guest/guest-shell.js';
import { guestIso, Sandbox } from './support/cli.js';

const sandboxes: Sandbox[] = [];
afterAll(() => {
  for (const s of sandboxes) s.cleanup();
});

/** A minimal RFB 3.8 client: handshake (no authentication, shared), then raw messages. */
async function vncClient(socketPath: string): Promise<{ send(b: Buffer): void; close(): void }> {
  const sock = net.connect(socketPath);
  let buf = Buffer.alloc(0);
  const waiters: (() => void)[] = [];
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (const w of waiters.splice(0)) w();
  });
  const read = async (n: number): Promise<Buffer> => {
    while (buf.length < n) await new Promise<void>((r) => waiters.push(r));
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    return out;
  };
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  expect((await read(12)).toString('latin1')).toBe('RFB 003.008\n');
  sock.write('RFB 003.008\n');
  const count = (await read(1))[0]!;
  const types = [...(await read(count))];
  expect(types).toContain(1); // None: the socket is private to the user
  sock.write(Buffer.from([1]));
  expect((await read(4)).readUInt32BE(0)).toBe(0);
  sock.write(Buffer.from([1])); // ClientInit: shared
  const init = await read(24);
  await read(init.readUInt32BE(20)); // the desktop's name
  return { send: (b) => sock.write(b), close: () => sock.destroy() };
}

/** ClientCutText (type 6): the text the VNC viewer copied. */
function clientCutText(text: string): Buffer {
  const body = Buffer.from(text, 'latin1');
  const head = Buffer.alloc(8);
  head[0] = 6;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

describe('the shared clipboard (QEMU vdagent)', () => {
  it('passes text copied in the VNC viewer to the guest’s spice-vdagent port as a clipboard grab', async () => {
    const s = new Sandbox();
    sandboxes.push(s);
    await s.startDriver();
    await s.json([
      'define',
      '--name',
      'clip',
      '--memory',
      '256M',
      '--disk-size',
      '32M',
      '--cdrom',
      guestIso(),
      '--clipboard',
      'on',
    ]);
    const vm = await s.json<VmSummary>(['start', 'clip']);
    expect(vm.definition?.clipboard).toBe(true);
    const shell = new GuestShell(await attachVmdeskConsole(s, 'clip'));
    try {
      await shell.ready();
      await shell.check('dmesg -n 1');
      // The port QEMU's vdagent is on.
      const port = await shell.check(
        'for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name)" = com.redhat.spice.0 ] && basename $p; done',
      );
      expect(port).toMatch(/^vport\dp\d+$/);
      // Stand in for spice-vdagent: open the port, record what QEMU sends, announce the
      // "clipboard by demand" capability (VDIChunkHeader{port 1, size 28} + VDAgentMessage
      // {protocol 1, type 6 ANNOUNCE_CAPABILITIES, opaque 0, size 8} + {request 0, caps 1<<5}).
      await shell.check(`exec 3<>/dev/${port}; (cat <&3 > /tmp/vdagent.in &)`);
      await shell.check(
        "printf '\\001\\000\\000\\000\\034\\000\\000\\000\\001\\000\\000\\000\\006\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\010\\000\\000\\000\\000\\000\\000\\000\\040\\000\\000\\000' >&3",
      );
      const vnc = await vncClient(vm.paths!.vnc);
      try {
        // Copy in the viewer until the guest sees the grab (the capability may land a moment
        // after the first copy; each copy is a new grab).
        let seen = '';
        for (let i = 0; i < 20 && !/01 00 00 00 07 00 00 00/.test(seen); i++) {
          vnc.send(clientCutText(`hello from the host ${i}`));
          await new Promise((r) => setTimeout(r, 500));
          seen = (await shell.check("od -An -tx1 -v /tmp/vdagent.in | tr -s ' \\n' ' '")).trim();
        }
        // A VDAgentMessage of protocol 1, type 7 (CLIPBOARD_GRAB), offering UTF-8 text (type 1).
        expect(seen).toMatch(/01 00 00 00 07 00 00 00( [0-9a-f]{2}){8} 04 00 00 00 01 00 00 00/);
      } finally {
        vnc.close();
      }
      // QEMU 7.2 cannot save the vdagent's state: a snapshot with memory takes the port out and
      // puts it back, so both the snapshot and the clipboard go on working.
      const taken = await s.run(['snapshot', 'create', 'clip', 'with-clipboard']);
      expect(taken.code, taken.stderr).toBe(0);
      const again = await shell.check(
        'for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name)" = com.redhat.spice.0 ] && basename $p; done',
      );
      expect(again).toMatch(/^vport\dp\d+$/);
      const back = await s.run(['snapshot', 'revert', 'clip', 'with-clipboard']);
      expect(back.code, back.stderr).toBe(0);
      expect((await s.json<VmSummary>(['info', 'clip'])).state).toBe('running');
    } finally {
      shell.link.close();
      await s.run(['stop', 'clip']);
    }
  }, 300_000);
});
