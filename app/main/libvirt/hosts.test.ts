// The connections registry against libvirt's own in-process test driver (test:///default: a real
// libvirt connection through the real client library, with one domain "test" and no daemon).
// The daemon and SSH paths, consoles and the window are in e2e/libvirt-hosts.int.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContractEvents, EventName } from '../common/contract.js';
import { loadLibvirt } from '../../native/libvirt.js';
import { connectFix, connectionIdOf, connectionLabel, isLibvirtRef, isLocalLibvirtUri, LibvirtHosts } from './hosts.js';
import { vmStateOf } from './libvirt-vm.js';

const TEST = 'test:///default';
const libvirt = loadLibvirt();

function recorder() {
  const seen: { event: EventName; data: unknown }[] = [];
  return {
    seen,
    emit<E extends EventName>(event: E, data: ContractEvents[E]) {
      seen.push({ event, data });
    },
    of<E extends EventName>(event: E): ContractEvents[E][] {
      return seen.filter((s) => s.event === event).map((s) => s.data as ContractEvents[E]);
    },
  };
}

let open: LibvirtHosts[] = [];
afterEach(async () => {
  for (const h of open) await h.closeAll();
  open = [];
});

function hostsWith(file: string, events = recorder()) {
  const hosts = new LibvirtHosts({ file, events });
  open.push(hosts);
  return { hosts, events };
}

const tmpFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vmd-hosts-')), 'connections.json');

describe('connection names', () => {
  it('gives each URI a short stable id and a label a person reads', () => {
    expect(connectionIdOf('qemu:///system')).toMatch(/^lv-[0-9a-f]{8}$/);
    expect(connectionIdOf('qemu:///system')).toBe(connectionIdOf('qemu:///system'));
    expect(connectionIdOf('qemu:///system')).not.toBe(connectionIdOf('qemu:///session'));
    expect(connectionLabel('qemu:///system')).toBe('libvirt system (this computer)');
    expect(connectionLabel('qemu:///session')).toBe('libvirt session (this computer)');
    expect(connectionLabel('qemu+ssh://root@server.lan:2222/system?keyfile=/k')).toBe('root@server.lan:2222 (system)');
    expect(connectionLabel('qemu+ssh://server/system')).toBe('server (system)');
    expect(isLibvirtRef(`${connectionIdOf('qemu:///system')}/web`)).toBe(true);
    expect(isLibvirtRef('web')).toBe(false);
    expect(isLocalLibvirtUri('qemu:///system')).toBe(true);
    expect(isLocalLibvirtUri('qemu+ssh://me@localhost/system')).toBe(true);
    expect(isLocalLibvirtUri('qemu+ssh://me@server.example/system')).toBe(false);
  });

  it('says what to do about the errors libvirt gives when connecting', () => {
    const ssh = 'qemu+ssh://me@box/system';
    expect(connectFix(ssh, 'Cannot recv data: Host key verification failed.')).toMatch(/ssh me@box.*known_hosts/);
    expect(connectFix(ssh, 'Cannot recv data: me@box: Permission denied (publickey).')).toMatch(/ssh-copy-id.*ssh-add/);
    expect(connectFix(ssh, 'Cannot recv data: ssh: connect to host box port 22: Connection refused')).toMatch(
      /box is up/,
    );
    expect(
      connectFix('qemu:///system', "Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file"),
    ).toMatch(/systemctl start libvirtd/);
    expect(
      connectFix('qemu:///system', "Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied"),
    ).toMatch(/systemctl start libvirtd|libvirt group/);
    expect(connectFix('qemu:///system', 'authentication unavailable: no polkit agent available')).toMatch(
      /libvirt group.*qemu:\/\/\/session/,
    );
  });

  it("maps libvirt's domain states", () => {
    expect(vmStateOf(1, 0)).toBe('running');
    expect(vmStateOf(3, 0)).toBe('paused');
    expect(vmStateOf(4, 0)).toBe('stopping');
    expect(vmStateOf(5, 1)).toBe('stopped');
    expect(vmStateOf(5, 3)).toBe('crashed');
    expect(vmStateOf(6, 0)).toBe('crashed');
  });
});

describe.skipIf(!libvirt.ok && process.env['CI'] !== 'true')('LibvirtHosts (test:///default)', () => {
  it('connects, lists the host with its VMs, remembers it, and runs power and snapshots on its VM', async () => {
    const file = tmpFile();
    const { hosts, events } = hostsWith(file);
    expect(hosts.connections()).toEqual([expect.objectContaining({ id: 'local', kind: 'local', state: 'connected' })]);

    const conn = await hosts.connect(TEST, { remember: true });
    expect(conn).toMatchObject({ id: connectionIdOf(TEST), kind: 'libvirt', state: 'connected', remembered: true });
    expect(conn.hypervisor?.libvirtVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ version: 1, connections: [{ uri: TEST }] });
    // Remembered once connected, which is said too.
    expect(events.of('host.connectionChanged').map((c) => [c.state, c.remembered])).toEqual([
      ['connecting', false],
      ['connected', false],
      ['connected', true],
    ]);
    // A second connect answers at once.
    expect((await hosts.connect(TEST)).state).toBe('connected');

    const [vm] = hosts.vms();
    expect(vm).toMatchObject({ name: 'test', state: 'running', host: { id: conn.id, uri: TEST, domain: 'test' } });
    expect(vm!.id).toBe(`${conn.id}/${vm!.id.split('/')[1]}`);
    expect(hosts.vms('local')).toEqual([]);
    const test = hosts.find(`${conn.id}/test`)!;
    expect(hosts.find(vm!.id)).toBe(test);

    expect((await test.pause()).state).toBe('paused');
    expect((await test.resume()).state).toBe('running');
    expect((await test.stop()).state).toBe('stopped');
    // libvirt's lifecycle events reach the list too (not only the caller's answer).
    await expect
      .poll(() =>
        events
          .of('vm.changed')
          .filter((v) => v.id === vm!.id)
          .map((v) => v.state),
      )
      .toEqual(expect.arrayContaining(['paused', 'running', 'stopped']));
    await expect(test.delete().then(() => 'deleted')).resolves.toBe('deleted');
    await expect.poll(() => events.of('vm.removed').map((r) => r.id)).toContain(vm!.id);
  });

  it('takes, lists, reverts and deletes snapshots, and refuses a disk-only one with what to use', async () => {
    const { hosts, events } = hostsWith(tmpFile());
    const conn = await hosts.connect(TEST);
    const test = hosts.find(`${conn.id}/test`)!;
    const s = await test.snapshotCreate({ name: 'before', description: 'a <first> one' });
    expect(s).toMatchObject({ name: 'before', description: 'a <first> one', current: true, parent: null });
    await test.snapshotCreate({ name: 'after' });
    const list = await test.snapshotList();
    expect(list.map((x) => [x.name, x.parent, x.current])).toEqual([
      ['before', null, false],
      ['after', 'before', true],
    ]);
    await test.snapshotRevert('before');
    expect((await test.snapshotList()).find((x) => x.current)?.name).toBe('before');
    expect((await test.snapshotDelete('after')).map((x) => x.name)).toEqual(['before']);
    expect(events.of('snapshot.changed').length).toBeGreaterThanOrEqual(4);
    await expect(test.snapshotCreate({ name: 'x', diskOnly: true })).rejects.toMatchObject({
      code: 'unsupported',
      message: expect.stringMatching(/snapshot-create-as --disk-only/),
    });
    await expect(test.snapshotDelete('nope')).rejects.toMatchObject({ code: 'not-found' });
  });

  it('names what it cannot find, and says to reconnect to a host that is not connected', async () => {
    const file = tmpFile();
    const { hosts } = hostsWith(file);
    const conn = await hosts.connect(TEST, { remember: true });
    expect(() => hosts.find(`${conn.id}/nope`)).toThrow(/No VM named or with id "nope" on libvirt test driver/);
    expect(() => hosts.find('lv-00000000/x')).toThrow(/No connection lv-00000000/);
    expect(hosts.find('a-local-vm')).toBeUndefined();

    // Disconnected but remembered: still listed, its VMs gone, and found again after a restart.
    await hosts.disconnect(conn.id);
    expect(hosts.connections().find((c) => c.id === conn.id)).toMatchObject({ state: 'disconnected' });
    expect(hosts.vms()).toEqual([]);
    expect(() => hosts.find(`${conn.id}/test`)).toThrow(/is not connected.*vmdesk --connect test:\/\/\/default/);

    const again = hostsWith(file);
    expect(again.hosts.connections().map((c) => [c.uri, c.state])).toEqual([
      ['local', 'connected'],
      [TEST, 'disconnected'],
    ]);
    await again.hosts.connectRemembered();
    expect(again.hosts.vms().map((v) => v.name)).toEqual(['test']);

    // Forgotten: out of the list and out of the file.
    await again.hosts.disconnect(TEST, { forget: true });
    expect(again.hosts.connections()).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).connections).toEqual([]);
  });

  it("refuses a URI that is not libvirt's, and says why libvirt could not connect, with what to do", async () => {
    const { hosts, events } = hostsWith(tmpFile());
    await expect(hosts.connect('http://example.com/')).rejects.toMatchObject({
      code: 'invalid-argument',
      message: expect.stringMatching(/scheme must be one of qemu, qemu\+ssh/),
    });
    // libvirt would run the program named by command= in place of ssh; it splits parameters on
    // & and ;, decodes their names and ignores case: none of these may pass.
    for (const uri of [
      'qemu+ssh://me@box/system?command=/tmp/evil',
      'qemu+ssh://me@box/system?COMMAND=/tmp/evil',
      'qemu+ssh://me@box/system?%63ommand=/tmp/evil',
      'qemu+ssh://me@box/system?no_verify=1;command=/tmp/evil',
    ])
      await expect(hosts.connect(uri), uri).rejects.toMatchObject({
        code: 'invalid-argument',
        message: expect.stringMatching(/command= parameter is not taken/),
      });
    // Files libvirt would read, or an embedded driver under a chosen directory.
    await expect(hosts.connect('test:///etc/passwd')).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(hosts.connect('qemu:///embed?root=/tmp/x')).rejects.toMatchObject({
      message: expect.stringMatching(/ends in \/system or \/session/),
    });
    await expect(hosts.connect('qemu+ssh://me@box/system?name=x')).rejects.toMatchObject({
      message: expect.stringMatching(/does not pass the URI parameter "name"/),
    });
    await expect(hosts.connect('qemu+unix:///system?socket=/nonexistent/libvirt-sock')).rejects.toMatchObject({
      code: 'invalid-state',
      message: expect.stringMatching(/nonexistent.*libvirt does not run on this computer/),
    });
    expect(hosts.connections()[1]).toMatchObject({ state: 'error', error: expect.stringMatching(/nonexistent/) });
    expect(events.of('host.connectionChanged').at(-1)).toMatchObject({ state: 'error' });
    await expect(hosts.disconnect('lv-00000000')).rejects.toMatchObject({ code: 'not-found' });
  });

  it('starts with only this computer when connections.json is damaged, and drops URIs it would refuse', () => {
    const file = tmpFile();
    const log: string[] = [];
    fs.writeFileSync(file, '{"connections": [');
    const damaged = new LibvirtHosts({ file, events: recorder(), log: (l) => log.push(l) });
    expect(damaged.connections().map((c) => c.id)).toEqual(['local']);
    expect(log.join('\n')).toMatch(/connections\.json could not be read .*no connections remembered/);
    // Written by hand (or by an older vmdesk): a URI the contract would refuse never reaches libvirt.
    fs.writeFileSync(
      file,
      JSON.stringify({ version: 1, connections: [{ uri: 'qemu+ssh://h/system?command=/x' }, { uri: TEST }] }),
    );
    expect(new LibvirtHosts({ file, events: recorder() }).connections().map((c) => c.uri)).toEqual(['local', TEST]);
  });

  it('says plainly when libvirt is not installed, and lists the local host still', async () => {
    // A stand-in: libvirt *is* installed on this machine, so its absence cannot be produced here.
    const hosts = new LibvirtHosts({
      file: tmpFile(),
      events: recorder(),
      load: () => ({ ok: false, reason: "libvirt's client library is not installed on this computer" }),
    });
    await expect(hosts.connect('qemu:///system')).rejects.toMatchObject({
      code: 'unsupported',
      message: expect.stringMatching(/not installed/),
    });
    expect(hosts.connections()[0]).toMatchObject({ id: 'local', state: 'connected' });
  });
});
