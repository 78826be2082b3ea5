// libvirt's client library against its own in-process test driver (test:///default: a real
// libvirt connection with one domain, "test", that needs no daemon). The daemon and SSH paths are
// in app/main/libvirt/hosts.int.test.ts.
import { describe, expect, it } from 'vitest';
import { DOMAIN_EVENT, DOMAIN_STATE, LibvirtError, loadLibvirt, VIR_ERR } from './libvirt.js';

const lv = loadLibvirt();
const CI = process.env['CI'] === 'true';

describe.skipIf(!lv.ok && !CI)('libvirt client (test:///default)', () => {
  const client = () => {
    if (!lv.ok) throw new Error(lv.reason);
    return lv.client;
  };

  it('reports its version, lists domains, reads XML, and gets lifecycle events', async () => {
    expect(client().version).toMatch(/^\d+\.\d+\.\d+$/);
    const conn = await client().open('test:///default');
    try {
      const doms = await conn.domains();
      expect(doms.map((d) => d.name)).toContain('test');
      const test = doms.find((d) => d.name === 'test')!;
      expect(test.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(test.state).toBe(DOMAIN_STATE.RUNNING);
      expect(await conn.domainXml(test.uuid)).toContain('<name>test</name>');
      expect((await conn.domain('test')).uuid).toBe(test.uuid);

      const events: [string, number][] = [];
      conn.onDomainEvent((uuid, event) => events.push([uuid, event]));
      await conn.lifecycle(test.uuid, 'suspend');
      expect((await conn.domain(test.uuid)).state).toBe(DOMAIN_STATE.PAUSED);
      await conn.lifecycle(test.uuid, 'resume');
      await conn.lifecycle(test.uuid, 'destroy');
      expect((await conn.domain(test.uuid)).state).toBe(DOMAIN_STATE.SHUTOFF);
      await conn.lifecycle(test.uuid, 'start');
      await expect
        .poll(() => events.map((e) => e[1]))
        .toEqual([DOMAIN_EVENT.SUSPENDED, DOMAIN_EVENT.RESUMED, DOMAIN_EVENT.STOPPED, DOMAIN_EVENT.STARTED]);
      expect(events.every((e) => e[0] === test.uuid)).toBe(true);
    } finally {
      await conn.close();
    }
  });

  it("carries libvirt's own error, per call, also when calls on two connections overlap", async () => {
    const a = await client().open('test:///default');
    const b = await client().open('test:///default');
    try {
      const [ea, eb] = await Promise.all([
        a.domain('no-such-domain').catch((e: unknown) => e),
        b.lifecycle('test', 'resume').catch((e: unknown) => e),
      ]);
      expect(ea).toBeInstanceOf(LibvirtError);
      expect((ea as LibvirtError).code).toBe(VIR_ERR.NO_DOMAIN);
      expect((ea as LibvirtError).message).toMatch(/no-such-domain|Domain not found/);
      expect(eb).toBeInstanceOf(LibvirtError);
      expect((eb as LibvirtError).message).toMatch(/not paused/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('takes, lists, reverts to and deletes snapshots', async () => {
    const conn = await client().open('test:///default');
    try {
      const name = await conn.snapshotCreate('test', '<domainsnapshot><name>one</name></domainsnapshot>');
      expect(name).toBe('one');
      const snaps = await conn.snapshots('test');
      expect(snaps).toEqual([expect.objectContaining({ name: 'one', current: true })]);
      expect(snaps[0]!.xml).toContain('<name>one</name>');
      await conn.snapshotRevert('test', 'one');
      await conn.snapshotDelete('test', 'one');
      expect(await conn.snapshots('test')).toEqual([]);
      await expect(conn.snapshotDelete('test', 'one')).rejects.toMatchObject({ code: VIR_ERR.NO_DOMAIN_SNAPSHOT });
    } finally {
      await conn.close();
    }
  });

  it('says why a connection cannot be opened, in libvirt words', async () => {
    const err = await client()
      .open('qemu+ssh://nobody@127.0.0.1:1/system?no_verify=1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect((err as Error).message).toMatch(/Connection refused/);
  });

  it('refuses calls on a closed connection', async () => {
    const conn = await client().open('test:///default');
    await conn.close();
    await expect(conn.domains()).rejects.toThrow(/closed/);
  });
});
