import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { runIsoInspect } from '../cli/iso-command.js';
import { buildFixtures, type FixtureName } from './fixtures/build-fixtures.js';

let fx: Record<FixtureName, string>;
beforeAll(() => {
  fx = buildFixtures();
}, 120_000);

function capture(): { io: { out: Writable; err: Writable }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        add(String(chunk));
        cb();
      },
    });
  return { io: { out: sink((s) => (out += s)), err: sink((s) => (err += s)) }, out: () => out, err: () => err };
}

describe('vmdesk iso inspect', () => {
  it('prints an aligned report a new user can read', async () => {
    const c = capture();
    expect(await runIsoInspect([fx.windows11], c.io)).toBe(0);
    const text = c.out();
    expect(text).toContain(`File:           ${fx.windows11} (`);
    expect(text).toMatch(/^Volume: +CCCOMA_X64FRE_EN-US_DV9$/m);
    expect(text).toMatch(
      /^Format: +ISO 9660 \+ Joliet \+ Rock Ridge \+ UDF \(hybrid: also boots from a USB stick, MBR\)$/m,
    );
    expect(text).toMatch(/^Boot: +BIOS \+ UEFI$/m);
    expect(text).toMatch(/^EFI: +x86_64 \(BOOTX64\.EFI\)$/m);
    expect(text).toMatch(
      /^Windows image: +sources\/install\.wim \(in ISO 9660, build 22631\): Windows 11 Home, Windows 11 Pro$/m,
    );
    expect(text).toMatch(/^Recognised as: +Microsoft Windows 11 x86_64 \((osinfo-db|vmdesk's osinfo table)\)$/m);
    expect(text).toMatch(
      /^Suggested: +4 GiB RAM, 64 GiB disk, 2 CPUs, UEFI, Secure Boot, TPM 2\.0, SATA disk and e1000e network \(virtio with the virtio-win disc\)$/m,
    );
    expect(text).toMatch(/^VM name: +Windows 11$/m);
    // Every label ends at the same column.
    const cols = text
      .split('\n\n')[0]!
      .split('\n')
      .map((l) => /^[^:]+: +/.exec(l)![0].length);
    expect(new Set(cols).size).toBe(1);
    expect(c.err()).toBe('');
  });

  it('notes a release newer than the data, and a non-bootable disc', async () => {
    const c = capture();
    await runIsoInspect([fx.ubuntu], c.io);
    expect(c.out()).toMatch(/^Recognised as: +Ubuntu 24\.04 LTS x86_64 \(.*, a release newer than the data\)$/m);
    expect(c.out()).toMatch(/^Suggested: +4 GiB RAM, 25 GiB disk, 2 CPUs, BIOS or UEFI, virtio disk and network$/m);
    const d = capture();
    await runIsoInspect([fx.data], d.io);
    expect(d.out()).toMatch(/^Boot: +not bootable$/m);
    expect(d.out()).toMatch(/^Recognised as: +not recognised \(generic settings\)$/m);
    expect(d.out()).toContain('  - This disc is not bootable');
  });

  it('--json prints {info, os, suggestedName}', async () => {
    const c = capture();
    expect(await runIsoInspect(['--json', fx.ubuntuArm], c.io)).toBe(0);
    const j = JSON.parse(c.out());
    expect(Object.keys(j)).toEqual(['info', 'os', 'suggestedName']);
    expect(j.info).toMatchObject({
      volumeId: 'Ubuntu-Server 24.04 LTS arm64',
      bootable: { bios: false, uefi: true },
      efiArchs: ['aarch64'],
    });
    expect(j.os).toMatchObject({ id: 'http://ubuntu.com/ubuntu/24.04', arch: 'aarch64', firmware: 'uefi' });
    expect(j.suggestedName).toBe('Ubuntu 24.04');
  });

  it('explains a bad file on stderr and exits 1 (with --json, the error as JSON too)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-iso-cli-'));
    try {
      const file = path.join(dir, 'empty.iso');
      fs.writeFileSync(file, '');
      const c = capture();
      expect(await runIsoInspect([file, '--json'], c.io)).toBe(1);
      expect(c.err()).toBe(
        `vmdesk: ${file} is empty (0 bytes), probably an unfinished download. Download the ISO again.\n`,
      );
      expect(JSON.parse(c.out())).toEqual({
        error: { code: 'invalid-argument', message: expect.any(String), details: { field: 'iso' } },
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a missing or extra argument and unknown options', async () => {
    for (const args of [[], ['a.iso', 'b.iso'], ['--frobnicate', 'a.iso']]) {
      const c = capture();
      expect(await runIsoInspect(args, c.io), args.join(' ')).toBe(1);
      expect(c.err()).toMatch(/Usage: vmdesk iso inspect PATH \[--json\]/);
    }
  });
});
