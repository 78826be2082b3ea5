/**
 * The ISO library through the real CLI: `vmdesk iso list` shows what is stored and which VM uses
 * it, `vmdesk iso rm` refuses an image in use and removes it once it is ejected.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IsoLibraryEntry } from '../app/main/common/contract.js';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { buildFixtures } from '../app/main/iso/fixtures/build-fixtures.js';
import { Sandbox } from './support/cli.js';

let s: Sandbox;
let lib: string;
beforeAll(() => {
  s = new Sandbox();
  lib = path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'isos');
  fs.mkdirSync(lib, { recursive: true, mode: 0o700 });
}, 120_000);
afterAll(() => s.cleanup());

describe('vmdesk iso list and rm', () => {
  it('lists an image with the VM that uses it, refuses to remove it until it is ejected, then removes it', async () => {
    const fx = buildFixtures();
    const iso = path.join(lib, 'debian-12.iso');
    fs.copyFileSync(fx.debian12, iso);
    fs.copyFileSync(fx.ubuntu, path.join(lib, 'abandoned.iso'));
    // An upload in progress: never listed, never removed.
    const temp = path.join(lib, '.next.iso.0123456789abcdef.part');
    fs.writeFileSync(temp, 'half an upload');

    const vm = await s.json<VmSummary>(['define', '--name', 'installer', '--memory', '256M', '--cdrom', iso]);

    const list = await s.json<IsoLibraryEntry[]>(['iso', 'list']);
    expect(list.map((e) => e.name)).toEqual(['abandoned.iso', 'debian-12.iso']);
    const debian = list[1]!;
    expect(debian).toMatchObject({
      path: iso,
      sizeBytes: fs.statSync(fx.debian12).size,
      usedBy: [{ id: vm.id, name: 'installer' }],
    });
    expect(debian.os).toMatch(/^Debian/);
    expect(list[0]!.usedBy).toEqual([]);

    const table = await s.run(['iso', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME +SIZE +OS +USED BY$/m);
    expect(table.stdout).toMatch(/^debian-12\.iso +[\d.]+ MiB +Debian.* +installer$/m);
    expect(table.stdout).toMatch(/^abandoned\.iso +[\d.]+ MiB +Ubuntu.* +-$/m);

    const refused = await s.run(['iso', 'rm', 'debian-12.iso']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'vmdesk: debian-12.iso is used by the VM "installer": eject it first (vmdesk eject installer), then remove it.\n',
    );
    expect(fs.existsSync(iso)).toBe(true);

    const outside = await s.run(['iso', 'rm', fx.debian12]);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toMatch(/is not in the ISO library/);
    expect(fs.existsSync(fx.debian12)).toBe(true);

    expect((await s.run(['eject', 'installer'])).code).toBe(0);
    expect(await s.json<{ path: string }>(['iso', 'rm', iso])).toEqual({ path: iso });
    expect(fs.existsSync(iso)).toBe(false);

    const byName = await s.run(['iso', 'rm', 'abandoned.iso']);
    expect(byName).toMatchObject({ code: 0, stdout: 'Removed abandoned.iso from the ISO library.\n' });
    expect(fs.existsSync(temp)).toBe(true);
    expect((await s.run(['iso', 'list'])).stdout).toMatch(/The ISO library is empty/);

    const missing = await s.run(['iso', 'rm', 'gone.iso', '--json']);
    expect(missing.code).toBe(1);
    expect((JSON.parse(missing.stdout) as { error: { code: string } }).error.code).toBe('not-found');
  });
});
