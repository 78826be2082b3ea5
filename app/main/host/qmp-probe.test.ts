import { describe, expect, it } from 'vitest';
import { PROBE_COMMANDS, QMP_PROBE_ARGS, QmpProbeError, runQmpProbe } from './qmp-probe.js';
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
    expect(Object.keys(probe.replies).sort()).toEqual([...PROBE_COMMANDS].sort());
    expect(probe.replies['query-target']).toEqual({ return: { arch: 'x86_64' } });
    expect(qemu.spawns).toHaveLength(1);
  });

  it('keeps the error of a command QEMU does not know', async () => {
    const { 'query-cpu-definitions': _dropped, ...rest } = fixture.replies;
    const qemu = new FakeQemu(() => ({ ...fixture, replies: rest as typeof fixture.replies }));
    const probe = await runQmpProbe(qemu.spawn, '/q');
    expect(probe.replies['query-cpu-definitions']).toMatchObject({ error: { class: 'CommandNotFound' } });
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
