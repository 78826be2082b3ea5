import { describe, expect, it } from 'vitest';
import { PROBE_REQUESTS, QMP_PROBE_ARGS, QmpProbeError, runQmpProbe } from './qmp-probe.js';
import { FakeQemu } from './testing/fakes.js';
import { loadQmpFixture, QEMU_72_X86_FIXTURE } from './testing/qmp-fixture.js';

const fixture = loadQmpFixture(QEMU_72_X86_FIXTURE);

describe('runQmpProbe', () => {
  it('starts QEMU with no machine, no defaults, no config and QMP on stdio', async () => {
    const qemu = new FakeQemu(() => fixture);
    await runQmpProbe(qemu.spawn, '/usr/bin/qemu-system-x86_64');
    expect(qemu.spawns).toEqual([{ binary: '/usr/bin/qemu-system-x86_64', args: QMP_PROBE_ARGS }]);
    expect(QMP_PROBE_ARGS.join(' ')).toBe('-machine none -nodefaults -no-user-config -display none -S -qmp stdio');
  });

  it('collects one reply per query in a single QMP session', async () => {
    const qemu = new FakeQemu(() => fixture);
    const probe = await runQmpProbe(qemu.spawn, '/q');
    expect(Object.keys(probe.replies).sort()).toEqual(PROBE_REQUESTS.map((r) => r.id).sort());
    expect(probe.replies['query-target']).toEqual({ return: { arch: 'x86_64' } });
    expect(qemu.spawns).toHaveLength(1);
  });

  it('keeps the error of a command QEMU does not know', async () => {
    const { 'query-machines': _dropped, ...rest } = fixture.replies;
    const qemu = new FakeQemu(() => ({ ...fixture, replies: rest as typeof fixture.replies }));
    const probe = await runQmpProbe(qemu.spawn, '/q');
    expect(probe.replies['query-machines']).toMatchObject({ error: { class: 'CommandNotFound' } });
  });

  it('asks only about -sandbox of all the command-line options', async () => {
    const sent: unknown[] = [];
    const qemu = new FakeQemu(() => fixture);
    const spawnQmp: typeof qemu.spawn = (binary, args) => {
      const proc = qemu.spawn(binary, args);
      return { ...proc, write: (line) => (sent.push(JSON.parse(line)), proc.write(line)) };
    };
    await runQmpProbe(spawnQmp, '/q');
    expect(sent).toContainEqual({
      execute: 'query-command-line-options',
      arguments: { option: 'sandbox' },
      id: 'query-command-line-options',
    });
    // Neither of the two slow ways to list types: every CPU model instantiated, every module loaded.
    expect(sent.map((m) => (m as { execute: string }).execute)).not.toContain('query-cpu-definitions');
    expect(sent.map((m) => (m as { execute: string }).execute)).not.toContain('qom-list-types');
    expect(sent).toContainEqual({
      id: 'type virtio-vga',
      execute: 'device-list-properties',
      arguments: { typename: 'virtio-vga' },
    });
  });

  it('answers with the last reply, then sends quit and lets QEMU exit on its own', async () => {
    const qemu = new FakeQemu(() => fixture);
    let exited = false;
    let quit = false;
    const spawnQmp: typeof qemu.spawn = (binary, args) => {
      const proc = qemu.spawn(binary, args);
      proc.onExit(() => (exited = true));
      return { ...proc, write: (line) => ((quit ||= line.includes('"quit"')), proc.write(line)) };
    };
    await runQmpProbe(spawnQmp, '/q');
    expect(quit).toBe(true);
    expect(exited).toBe(false); // the fake exits a few ticks after quit: nobody waited for it
    for (let i = 0; i < 10 && !exited; i++) await new Promise((r) => setImmediate(r));
    expect(exited).toBe(true);
  });

  it("fails with QEMU's own stderr when it exits during the probe", async () => {
    const qemu = new FakeQemu(() => fixture, {
      dieAfterGreeting: 'qemu-system-x86_64: -machine none: unsupported machine type\n',
    });
    const err = await runQmpProbe(qemu.spawn, '/q').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpProbeError);
    expect((err as Error).message).toMatch(/exited with code 1.*unsupported machine type/);
  });

  it('fails clearly when the binary cannot be started', async () => {
    const qemu = new FakeQemu(() => fixture, { spawnError: 'spawn /q EACCES' });
    await expect(runQmpProbe(qemu.spawn, '/q')).rejects.toThrow(/could not start.*EACCES/);
  });

  it('gives up and kills a QEMU that never answers', async () => {
    const qemu = new FakeQemu(() => fixture, { silent: true });
    await expect(runQmpProbe(qemu.spawn, '/q', { timeoutMs: 50 })).rejects.toThrow(
      /did not answer the capability probe within 50 ms/,
    );
  });
});
