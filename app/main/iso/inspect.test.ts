import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { inspectIso, MIN_ISO_BYTES } from './inspect.js';
import { decDateTime } from './iso9660.js';
import { parseWimXml } from './wim.js';
import { buildFixtures, type FixtureName } from './fixtures/build-fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const guestIso = path.join(repo, '.cache/guest/guest.iso');
let fx: Record<FixtureName, string>;
let tmp: string;

beforeAll(() => {
  fx = buildFixtures();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-iso-test-'));
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<VmdeskError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof VmdeskError) return err;
    throw err;
  }
  throw new Error('expected a VmdeskError');
}

describe('inspectIso on installer layouts', () => {
  it('reads an Ubuntu desktop ISO: volume fields, Joliet, Rock Ridge, BIOS + UEFI x86_64', async () => {
    const info = await inspectIso(fx.ubuntu);
    expect(info).toMatchObject({
      volumeId: 'Ubuntu 24.04.1 LTS amd64',
      publisher: 'CANONICAL LTD.',
      systemId: 'LINUX',
      format: 'iso9660',
      bootable: { bios: true, uefi: true },
      efiArchs: ['x86_64'],
      rockRidge: true,
      udf: false,
      windows: null,
      warnings: [],
    });
    expect(info.joliet?.volumeId).toBe('Ubuntu 24.04.1 L'); // Joliet volume ids hold 16 UCS-2 characters
    expect(info.efiBootFiles).toEqual(['esp:/EFI/BOOT/BOOTX64.EFI', 'iso:/EFI/BOOT/BOOTX64.EFI']);
    expect(info.bootEntries.map((e) => [e.platform, e.emulation, e.bootable])).toEqual([
      ['bios', 'none', true],
      ['efi', 'none', true],
    ]);
    expect(info.sizeBytes).toBe(fs.statSync(fx.ubuntu).size);
    expect(info.volumeSizeBytes).toBeLessThanOrEqual(info.sizeBytes);
    expect(Date.parse(info.created!)).toBeGreaterThan(Date.parse('2020-01-01'));
    expect(info.isoLevel).toBe(1);
  });

  it('reads the FAT16 EFI image of a Fedora live ISO and lists its 32-bit loader too', async () => {
    const info = await inspectIso(fx.fedora);
    expect(info).toMatchObject({
      volumeId: 'Fedora-WS-Live-41-1-4',
      applicationId: 'FEDORA-WS-LIVE-41-1-4',
      bootable: { bios: true, uefi: true },
      efiArchs: ['x86_64'],
    });
    expect(info.efiBootFiles).toContain('esp:/EFI/BOOT/BOOTIA32.EFI');
  });

  it('reads Debian and openSUSE layouts', async () => {
    expect(await inspectIso(fx.debian12)).toMatchObject({
      volumeId: 'Debian 12.7.0 amd64 n',
      bootable: { bios: true, uefi: true },
      efiArchs: ['x86_64'],
    });
    expect(await inspectIso(fx.opensuse)).toMatchObject({
      volumeId: 'openSUSE-Tumbleweed-DVD-x86_64',
      systemId: 'LINUX',
      publisher: 'SUSE LINUX GMBH',
    });
  });

  it('finds only BOOTAA64.EFI in an aarch64 image with a FAT32 EFI partition: UEFI-only, aarch64', async () => {
    const info = await inspectIso(fx.ubuntuArm);
    expect(info).toMatchObject({
      volumeId: 'Ubuntu-Server 24.04 LTS arm64',
      bootable: { bios: false, uefi: true },
      efiArchs: ['aarch64'],
    });
    expect(info.bootEntries).toEqual([expect.objectContaining({ platform: 'efi', platformId: 0xef })]);
  });

  it('detects the UDF recognition sequence of a Windows 11 layout and reads install.wim from the ISO 9660 tree', async () => {
    // The sequence is patched in by the fixture builder (xorriso cannot write UDF): detection
    // works, opening the UDF filesystem does not, and says so.
    const info = await inspectIso(fx.windows11);
    expect(info).toMatchObject({
      volumeId: 'CCCOMA_X64FRE_EN-US_DV9',
      publisher: 'MICROSOFT CORPORATION',
      format: 'iso9660+udf',
      udf: true,
      bootable: { bios: true, uefi: true },
    });
    expect(info.windows).toEqual({
      installImage: 'sources/install.wim',
      foundIn: 'iso9660',
      build: 22631,
      installationType: 'Client',
      editions: ['Windows 11 Home', 'Windows 11 Pro'],
      arch: 'x86_64',
    });
    expect(info.warnings).toEqual([expect.stringMatching(/^Could not read the UDF filesystem/)]);
  });

  it('reads a real UDF bridge (genisoimage) where install.wim exists only in UDF, like Microsoft media', async () => {
    const info = await inspectIso(fx.windows10udf);
    expect(info).toMatchObject({
      format: 'iso9660+udf',
      volumeId: 'CCCOMA_X64FRE_EN-US_DV9',
      bootable: { bios: true, uefi: true },
      efiArchs: ['x86_64'],
      warnings: [],
    });
    expect(info.windows).toMatchObject({
      installImage: 'sources/install.wim',
      foundIn: 'udf',
      build: 19045,
      editions: ['Windows 10 Home', 'Windows 10 Pro'],
    });
    expect(info.bootEntries.map((e) => e.platform)).toEqual(['bios', 'efi']);
  });

  it('reads a UDF-only image (no ISO 9660 side) and says firmware cannot boot it', async () => {
    const file = path.join(tmp, 'udf-only.iso');
    const data = fs.readFileSync(fx.windows10udf);
    // Replace the ISO 9660 descriptors at sectors 16.. with the UDF recognition sequence.
    ['BEA01', 'NSR02', 'TEA01'].forEach((id, i) => {
      data.fill(0, (16 + i) * 2048, (17 + i) * 2048);
      data.write(id, (16 + i) * 2048 + 1, 'latin1');
      data[(16 + i) * 2048 + 6] = 1;
    });
    fs.writeFileSync(file, data);
    const info = await inspectIso(file);
    expect(info).toMatchObject({
      format: 'udf',
      udf: true,
      volumeId: 'CCCOMA_X64FRE_EN-US_DV9',
      bootable: { bios: false, uefi: false },
      isoLevel: null,
    });
    expect(info.windows).toMatchObject({ foundIn: 'udf', build: 19045 });
    expect(info.warnings.join(' ')).toMatch(/UDF-only image .* firmware cannot boot/);
  });

  it('reports a data disc as not bootable, with a warning', async () => {
    const info = await inspectIso(fx.data);
    expect(info).toMatchObject({
      volumeId: 'BACKUP_2024',
      bootable: { bios: false, uefi: false },
      bootEntries: [],
      efiArchs: [],
    });
    expect(info.warnings).toEqual([expect.stringMatching(/not bootable .* attached as a data CD/)]);
  });

  it.skipIf(!fs.existsSync(guestIso))(
    'reads the test guest ISO (.cache/guest/guest.iso): grub for BIOS and for x86_64 UEFI, hybrid MBR',
    async () => {
      const info = await inspectIso(guestIso);
      expect(info).toMatchObject({
        volumeId: 'VMDESK_TESTGUEST',
        bootable: { bios: true, uefi: true },
        efiArchs: ['x86_64'],
        hybrid: 'mbr',
      });
    },
  );

  const grubDirs = ['/usr/lib/grub/i386-pc', '/usr/lib/grub/x86_64-efi'];
  it.skipIf(!grubDirs.every((d) => fs.existsSync(d)))(
    'reads a real grub-mkrescue hybrid (BIOS + UEFI, GPT) image (needs grub-pc-bin and grub-efi-amd64-bin)',
    async () => {
      const root = path.join(tmp, 'grub-root');
      fs.mkdirSync(path.join(root, 'boot/grub'), { recursive: true });
      fs.writeFileSync(path.join(root, 'boot/grub/grub.cfg'), 'menuentry test { true }\n');
      const iso = path.join(tmp, 'grub.iso');
      execFileSync('grub-mkrescue', ['-o', iso, root, '--', '-volid', 'GRUB_HYBRID_TEST'], { stdio: 'ignore' });
      const info = await inspectIso(iso);
      expect(info).toMatchObject({
        volumeId: 'GRUB_HYBRID_TEST',
        hybrid: 'gpt',
        bootable: { bios: true, uefi: true },
        efiArchs: ['x86_64'],
        warnings: [],
      });
      expect(info.efiBootFiles).toContain('esp:/EFI/BOOT/BOOTX64.EFI');
    },
    30_000,
  );

  it('reads at most a few hundred KiB, however large the image', async () => {
    const spy = fs.promises.open;
    let bytes = 0;
    const fh = await spy(fx.ubuntuArm, 'r');
    const read = fh.read.bind(fh);
    fh.read = ((...a: Parameters<typeof read>) =>
      read(...a).then((r) => ((bytes += r.bytesRead), r))) as typeof fh.read;
    const { fileSource, ImageReader } = await import('./reader.js');
    const { inspectImage } = await import('./inspect.js');
    await inspectImage(new ImageReader(fileSource(fh, (await fh.stat()).size)), fx.ubuntuArm);
    await fh.close();
    expect(bytes).toBeLessThan(512 * 1024);
    expect(fs.statSync(fx.ubuntuArm).size).toBeGreaterThan(30 * 2 ** 20);
  });
});

describe('inspectIso refuses what is not an ISO, saying what it is and what to do', () => {
  it('a PNG picture', async () => {
    const file = path.join(tmp, 'photo.iso');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.alloc(100_000, 7)]));
    const e = await rejection(inspectIso(file));
    expect(e).toMatchObject({ code: 'invalid-argument', details: { field: 'iso' } });
    expect(e.message).toBe(`${file} is a PNG picture, not an ISO disc image. Download the installer ISO again.`);
  });

  it('a file with no volume descriptors and no recognisable header', async () => {
    const file = path.join(tmp, 'noise.bin');
    fs.writeFileSync(file, Buffer.alloc(200_000));
    expect((await rejection(inspectIso(file))).message).toBe(
      `${file} is not an ISO 9660 or UDF disc image (there is no volume descriptor at sector 16). Pick the installer's .iso file, or download it again.`,
    );
  });

  it('a qcow2 disk image, pointing at --disk', async () => {
    const file = path.join(tmp, 'disk.qcow2');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('QFI\xfb\0\0\0\x03', 'latin1'), Buffer.alloc(70_000)]));
    expect((await rejection(inspectIso(file))).message).toMatch(
      /is a qcow2 disk image, not an ISO disc image\. Use it as the VM's disk \(vmdesk define --disk\)/,
    );
  });

  it('a text file', async () => {
    const file = path.join(tmp, 'SHA256SUMS');
    fs.writeFileSync(file, 'c2e6f4dc4a9d1d6f7ba9a6e1a1c3f1c0  ubuntu-24.04.1-desktop-amd64.iso\n');
    expect((await rejection(inspectIso(file))).message).toBe(
      `${file} is a text file, not an ISO disc image. Pick the installer's .iso file itself.`,
    );
  });

  it('an empty file', async () => {
    const file = path.join(tmp, 'empty.iso');
    fs.writeFileSync(file, '');
    expect((await rejection(inspectIso(file))).message).toBe(
      `${file} is empty (0 bytes), probably an unfinished download. Download the ISO again.`,
    );
  });

  it('an ISO cut at 20 KiB', async () => {
    const file = path.join(tmp, 'cut20k.iso');
    fs.writeFileSync(file, fs.readFileSync(fx.ubuntu).subarray(0, 20 * 1024));
    expect((await rejection(inspectIso(file))).message).toBe(
      `${file} is only 20480 bytes, too small to be an ISO image (at least ${MIN_ISO_BYTES / 1024} KiB). It is probably an incomplete download: download it again.`,
    );
  });

  it('an ISO cut in half', async () => {
    const file = path.join(tmp, 'half.iso');
    const whole = fs.readFileSync(fx.ubuntuArm);
    fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 2)));
    expect((await rejection(inspectIso(file))).message).toMatch(
      new RegExp(
        `^${file} is incomplete: the image says it holds [\\d.]+ MiB but the file has only [\\d.]+ MiB\\. The download was probably interrupted: download it again\\.$`,
      ),
    );
  });

  it('an ISO cut inside its volume descriptors', async () => {
    const file = path.join(tmp, 'cut-desc.iso');
    fs.writeFileSync(file, fs.readFileSync(fx.ubuntu).subarray(0, 16 * 2048 + 100));
    // Shorter than 17 sectors: too small.
    expect((await rejection(inspectIso(file))).message).toMatch(/too small to be an ISO image/);
    const noPvd = Buffer.from(fs.readFileSync(fx.ubuntu).subarray(0, 18 * 2048));
    noPvd[16 * 2048] = 0; // sector 16 becomes a boot record: no primary descriptor before the end
    fs.writeFileSync(file, noPvd.subarray(0, 17 * 2048 + 10));
    expect((await rejection(inspectIso(file))).message).toMatch(
      /is incomplete: it starts like an ISO image but ends \(at .*\) before its volume descriptors/,
    );
  });

  it('a folder', async () => {
    expect((await rejection(inspectIso(tmp))).message).toBe(
      `${tmp} is a folder, not an ISO image. Pick the .iso file inside it.`,
    );
  });

  it('a path that does not exist', async () => {
    const file = path.join(tmp, 'nope.iso');
    expect((await rejection(inspectIso(file))).message).toBe(
      `There is no file at ${file}. Check the path, or pick the ISO again.`,
    );
  });

  it('a file the user may not read (run as uid 65534 when root)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-iso-perm-'));
    fs.chmodSync(dir, 0o755);
    const file = path.join(dir, 'secret.iso');
    fs.copyFileSync(fx.data, file);
    fs.chmodSync(file, 0o600);
    try {
      const isRoot = process.getuid?.() === 0;
      if (!isRoot) {
        fs.chmodSync(file, 0o000);
        expect((await rejection(inspectIso(file))).message).toBe(
          `vmdesk cannot read ${file}: permission denied. Make it readable for your user (chmod a+r "${file}") or copy it somewhere you own.`,
        );
        return;
      }
      // Root reads everything: run the inspection as "nobody" in a child process (bundled with esbuild).
      const entry = path.join(dir, 'run.ts');
      fs.writeFileSync(
        entry,
        `import { inspectIso } from ${JSON.stringify(path.join(here, 'inspect.ts'))};\ninspectIso(process.argv[2]!).then(() => console.log('{"ok":true}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));\n`,
      );
      const bundle = path.join(dir, 'run.mjs');
      execFileSync(path.join(repo, 'node_modules/.bin/esbuild'), [
        entry,
        '--bundle',
        '--platform=node',
        '--format=esm',
        `--outfile=${bundle}`,
        '--log-level=warning',
      ]);
      fs.chmodSync(bundle, 0o644);
      const child = spawnSync(process.execPath, [bundle, file], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: dir });
      expect(child.stderr).toBe('');
      expect(JSON.parse(child.stdout)).toEqual({
        code: 'invalid-argument',
        message: `vmdesk cannot read ${file}: permission denied. Make it readable for your user (chmod a+r "${file}") or copy it somewhere you own.`,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('field parsers', () => {
  it('reads ECMA-119 dates with their UTC offset and rejects unset or impossible ones', () => {
    const d = (s: string, tz: number) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from([tz & 0xff])]);
    expect(decDateTime(d('2024082715230045', 8))).toBe('2024-08-27T13:23:00.450Z'); // +02:00
    expect(decDateTime(d('2024082715230000', -20))).toBe('2024-08-27T20:23:00.000Z'); // -05:00
    expect(decDateTime(d('0000000000000000', 0))).toBeNull();
    expect(decDateTime(d('2024133215230000', 0))).toBeNull();
    expect(decDateTime(d('20240827\0\0\0\0\0\0\0\0', 0))).toBeNull();
  });

  it('reads Windows editions and builds from WIM XML, entities decoded', () => {
    const xml =
      '<WIM><IMAGE INDEX="1"><WINDOWS><ARCH>12</ARCH><INSTALLATIONTYPE>Server</INSTALLATIONTYPE><VERSION><BUILD>20348</BUILD></VERSION></WINDOWS><NAME>Server &amp; more</NAME></IMAGE></WIM>';
    expect(parseWimXml(xml)).toEqual({
      build: 20348,
      installationType: 'Server',
      editions: ['Server & more'],
      arch: 'aarch64',
    });
    expect(parseWimXml('garbage')).toEqual({ build: null, installationType: null, editions: [], arch: null });
  });
});
