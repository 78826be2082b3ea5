import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { COMPONENT_PACKAGES } from './first-run.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(import.meta.url);

interface FpmOptions {
  afterInstall: string;
  afterRemove: string;
  depends: string[];
  recommends?: string[];
  fpm?: string[];
}

interface BuilderConfig {
  appId: string;
  productName: string;
  files: string[];
  asarUnpack: string[];
  fileAssociations: { ext: string; role: string; mimeType?: string }[];
  directories: Record<string, string>;
  linux: {
    target: string[];
    icon: string;
    executableName: string;
    mimeTypes: string[];
  };
  deb: FpmOptions;
  rpm: FpmOptions;
  mac: {
    target: string[];
    hardenedRuntime: boolean;
    icon: string;
    entitlements: string;
    entitlementsInherit: string;
    notarize: boolean;
  } & Record<string, unknown>;
}

interface PackageDependencies {
  deb: { depends: string[]; recommends: string[] };
  rpm: { depends: string[]; recommends: string[] };
}

const config = require(path.join(root, 'electron-builder.config.cjs')) as BuilderConfig;
const { linuxPackageDependencies, linuxBuildArch } = require(path.join(root, 'build/linux/dependencies.cjs')) as {
  linuxPackageDependencies(arch: string): PackageDependencies;
  linuxBuildArch(argv: readonly string[], hostArch: string): 'x64' | 'arm64';
};

/** electron-builder's own code, so the tests check against what it does rather than our notes. */
const builder = {
  validateConfiguration: (
    require('app-builder-lib/out/util/config/config.js') as {
      validateConfiguration(c: unknown, logger: unknown): Promise<void>;
    }
  ).validateConfiguration,
  DebugLogger: (require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown }).DebugLogger,
  fpm: (
    require('app-builder-lib/out/targets/FpmTarget.js') as {
      default: { prototype: { getDefaultDepends(t: string): string[]; getDefaultRecommends(t: string): string[] } };
    }
  ).default.prototype,
  mac: (
    require('app-builder-lib/out/mac/MacTargetHelper.js') as {
      MacTargetHelper: { getNotarizeOptions(appPath: string): Record<string, string> | undefined };
    }
  ).MacTargetHelper,
};

/** Every package name a dependency line mentions: `a | b (<< 1)`, `(a or b)`. */
const names = (deps: readonly string[]) =>
  new Set(
    deps.flatMap((d) =>
      d
        .replace(/\([^)]*<<[^)]*\)/g, '')
        .split(/[\s()|]+|\bor\b/)
        .filter(Boolean),
    ),
  );

describe('electron-builder.config.cjs', () => {
  it('names the app and packs the build output', () => {
    expect(config.appId).toMatch(/^[a-z0-9.-]+$/);
    expect(config.productName).toBe('vmdesk');
    expect(config.files).toEqual(expect.arrayContaining(['dist/**/*', 'package.json', 'resources/**/*']));
  });

  it("keeps koffi's native module out of the asar", () => {
    expect(config.asarUnpack).toContain('node_modules/koffi/**');
  });

  it("passes electron-builder's own configuration schema", async () => {
    await expect(builder.validateConfiguration(config, new builder.DebugLogger(false))).resolves.toBeUndefined();
    // The check can fail: an unknown option is refused.
    await expect(
      builder.validateConfiguration({ ...config, notarise: true }, new builder.DebugLogger(false)),
    ).rejects.toThrow(/unknown property 'notarise'/);
  });

  it('builds an AppImage, a deb and an rpm, with the icons in every size', () => {
    expect(config.linux.target).toEqual(['AppImage', 'deb', 'rpm']);
    const sizes = fs.readdirSync(path.join(root, config.linux.icon));
    expect(sizes).toEqual(
      expect.arrayContaining(['16x16.png', '32x32.png', '48x48.png', '256x256.png', '512x512.png']),
    );
  });

  it('opens .iso files (Viewer)', () => {
    expect(config.fileAssociations).toContainEqual(expect.objectContaining({ ext: 'iso', role: 'Viewer' }));
  });

  it('builds a hardened dmg entitled to the Hypervisor framework', () => {
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.mac.hardenedRuntime).toBe(true);
    const plist = fs.readFileSync(path.join(root, config.mac.entitlements), 'utf8');
    for (const key of ['com.apple.security.hypervisor', 'com.apple.security.cs.allow-jit']) {
      expect(plist).toMatch(new RegExp(`<key>${key.replace(/\./g, '\\.')}</key>\\s*<true/>`));
    }
    expect(fs.readFileSync(path.join(root, config.mac.entitlementsInherit), 'utf8')).not.toContain(
      'com.apple.security.hypervisor',
    );
    expect(fs.existsSync(path.join(root, config.mac.icon))).toBe(true);
  });

  it('has every icon the shell loads at run time', () => {
    for (const f of ['icon.png', 'tray.png', 'tray@2x.png', 'trayTemplate.png', 'trayTemplate@2x.png']) {
      const bytes = fs.readFileSync(path.join(root, 'resources', f));
      expect(bytes.subarray(1, 4).toString('ascii'), f).toBe('PNG');
    }
  });
});

describe('the deb and rpm dependencies', () => {
  it.each(['deb', 'rpm'] as const)(
    "keep electron-builder's own %s dependencies (a depends list replaces them)",
    (t) => {
      expect(config[t].depends).toEqual(expect.arrayContaining(builder.fpm.getDefaultDepends(t)));
    },
  );

  it('keeps electron-builder’s deb recommends', () => {
    expect(config.deb.recommends).toEqual(expect.arrayContaining(builder.fpm.getDefaultRecommends('deb')));
  });

  it('depend on QEMU, qemu-img, OVMF and swtpm, and recommend virtiofsd (x64)', () => {
    const x64 = linuxPackageDependencies('x64');
    expect(x64.deb.depends).toEqual(expect.arrayContaining(['qemu-system-x86', 'qemu-utils', 'ovmf', 'swtpm']));
    // Debian 12 / Ubuntu 22.04 have virtiofsd inside qemu-system-common (QEMU < 8.0); later ones separately.
    expect(x64.deb.recommends).toContain('virtiofsd | qemu-system-common (<< 1:8.0)');
    expect(x64.rpm.depends).toEqual(
      expect.arrayContaining([
        '(qemu-system-x86-core or qemu-kvm or qemu-x86)',
        '(qemu-img or qemu-tools)',
        '(edk2-ovmf or qemu-ovmf-x86_64)',
        'swtpm',
      ]),
    );
    expect(x64.rpm.recommends).toContain('virtiofsd');
  });

  it('name the arm64 emulator and firmware on arm64', () => {
    const arm = linuxPackageDependencies('arm64');
    expect(arm.deb.depends).toEqual(expect.arrayContaining(['qemu-system-arm', 'qemu-efi-aarch64']));
    expect(arm.deb.depends).not.toContain('qemu-system-x86');
    expect(arm.rpm.depends).toEqual(
      expect.arrayContaining(['(qemu-system-aarch64-core or qemu-arm)', '(edk2-aarch64 or qemu-uefi-aarch64)']),
    );
    expect(() => linuxPackageDependencies('armv7l')).toThrow(/built for x64 or arm64, not armv7l/);
  });

  it('are those of the architecture being built, one architecture at a time', () => {
    expect(linuxBuildArch(['node', 'electron-builder', '--linux', '--arm64'], 'x64')).toBe('arm64');
    expect(linuxBuildArch(['node', 'electron-builder', '--linux', '--x64'], 'arm64')).toBe('x64');
    expect(linuxBuildArch(['node', 'electron-builder'], 'arm64')).toBe('arm64');
    expect(linuxBuildArch(['node', 'electron-builder', '--mac', '--x64', '--arm64'], 'arm64')).toBe('arm64');
    expect(() => linuxBuildArch(['node', 'electron-builder', '--linux', '--x64', '--arm64'], 'x64')).toThrow(
      /one architecture at a time .*Run electron-builder once with --x64 and once with --arm64/,
    );
    // What this config was loaded with (vitest's argv has no arch flag): this machine's.
    expect(config.deb.depends).toEqual(linuxPackageDependencies(linuxBuildArch([], process.arch)).deb.depends);
  });

  it('writes the rpm recommends as spec tags (electron-builder has no rpm recommends)', () => {
    expect(config.rpm.fpm).toEqual(['--rpm-tag', 'Recommends: virtiofsd', '--rpm-tag', 'Recommends: swtpm-tools']);
  });

  it.each(['x64', 'arm64'])('are the packages the AppImage asks for (%s)', (arch) => {
    const deps = linuxPackageDependencies(arch);
    const qemuArch = arch === 'x64' ? 'x86_64' : 'aarch64';
    const { QEMU, FIRMWARE, QEMU_IMG, SWTPM, VIRTIOFSD } = COMPONENT_PACKAGES;
    const deb = names([...deps.deb.depends, ...deps.deb.recommends]);
    const rpm = names([...deps.rpm.depends, ...deps.rpm.recommends]);
    for (const c of [QEMU[qemuArch], FIRMWARE[qemuArch], QEMU_IMG, SWTPM, VIRTIOFSD]) {
      for (const p of c.debian) expect(deb, p).toContain(p);
      for (const p of [...c.fedora, ...c.opensuse]) expect(rpm, p).toContain(p);
    }
  });
});

describe('the deb and rpm scripts', () => {
  it.each(['deb', 'rpm'] as const)('%s runs build/linux/after-install.sh and after-remove.sh', (t) => {
    expect(config[t].afterInstall).toBe('build/linux/after-install.sh');
    expect(config[t].afterRemove).toBe('build/linux/after-remove.sh');
    for (const script of [config[t].afterInstall, config[t].afterRemove]) {
      expect(fs.statSync(path.join(root, script)).mode & 0o111, script).toBe(0o111);
    }
  });

  it('are installed as they are: no ${name} macros for electron-builder to substitute', () => {
    for (const script of [config.deb.afterInstall, config.deb.afterRemove]) {
      // FpmTarget's writeConfigFile replaces these and stops on names it does not know.
      expect(fs.readFileSync(path.join(root, script), 'utf8')).not.toMatch(/\$\{[a-zA-Z]+\}/);
    }
  });

  it('install the helper from where asarUnpack puts it in /opt/vmdesk', () => {
    expect(config.asarUnpack).toContain('resources/mdev-helper/**');
    expect(config.files).toContain('resources/**/*');
    expect(config.productName).toBe('vmdesk'); // /opt/<productName>
    expect(config.linux.executableName).toBe('vmdesk'); // /opt/vmdesk/vmdesk
    const script = fs.readFileSync(path.join(root, config.deb.afterInstall), 'utf8');
    expect(script).toContain('APP=$ROOT/opt/vmdesk\n');
    expect(script).toContain('HELPER_SRC=$APP/resources/app.asar.unpacked/resources/mdev-helper/vmdesk-mdev-helper\n');
    expect(script).toContain('HELPER_DIR=$ROOT/usr/libexec/vmdesk\n');
  });
});

describe('ISO images', () => {
  it('are offered to vmdesk by the desktop entry, with no MIME XML of ours', () => {
    expect(config.linux.mimeTypes).toEqual(['application/x-cd-image', 'application/x-iso9660-image']);
    // electron-builder writes /usr/share/mime/packages/vmdesk.xml for each fileAssociation with a
    // mimeType, redefining the system's ISO type; and adds it to MimeType a second time.
    expect(config.fileAssociations.filter((a) => a.mimeType)).toEqual([]);
  });

  const freedesktop = '/usr/share/mime/packages/freedesktop.org.xml';
  it.skipIf(!fs.existsSync(freedesktop))('are known to shared-mime-info already (*.iso, and the alias)', () => {
    const xml = fs.readFileSync(freedesktop, 'utf8');
    const cdImage = /<mime-type type="application\/x-cd-image">([\s\S]*?)<\/mime-type>/.exec(xml)?.[1] ?? '';
    expect(cdImage).toMatch(/<glob pattern="\*\.iso"/);
    expect(cdImage).toContain('<alias type="application/x-iso9660-image"/>');
  });
});

describe('the macOS dmg', () => {
  afterEach(() => vi.unstubAllEnvs());
  const APPLE = [
    'APPLE_ID',
    'APPLE_APP_SPECIFIC_PASSWORD',
    'APPLE_TEAM_ID',
    'APPLE_API_KEY',
    'APPLE_API_KEY_ID',
    'APPLE_API_ISSUER',
    'APPLE_KEYCHAIN',
    'APPLE_KEYCHAIN_PROFILE',
  ];
  const clearApple = () => APPLE.forEach((k) => vi.stubEnv(k, undefined));

  it('is notarized with credentials from the environment, and signed with CSC_LINK / CSC_NAME', () => {
    expect(config.mac.notarize).toBe(true);
    // No identity in the file: electron-builder takes CSC_LINK + CSC_KEY_PASSWORD or CSC_NAME.
    for (const k of ['identity', 'cscLink', 'cscKeyPassword', 'forceCodeSigning'])
      expect(config.mac, k).not.toHaveProperty(k);
  });

  it('builds unsigned and unnotarized when no credentials are set', () => {
    clearApple();
    expect(builder.mac.getNotarizeOptions('/tmp/vmdesk.app')).toBeUndefined();
  });

  it('notarizes with an App Store Connect API key, or an Apple ID, from the environment', () => {
    clearApple();
    vi.stubEnv('APPLE_API_KEY', '/ci/AuthKey_ABC.p8');
    vi.stubEnv('APPLE_API_KEY_ID', 'ABC');
    vi.stubEnv('APPLE_API_ISSUER', 'issuer-uuid');
    expect(builder.mac.getNotarizeOptions('/tmp/vmdesk.app')).toMatchObject({
      appleApiKey: '/ci/AuthKey_ABC.p8',
      appleApiKeyId: 'ABC',
      appleApiIssuer: 'issuer-uuid',
    });
    clearApple();
    vi.stubEnv('APPLE_ID', 'dev@example.org');
    expect(() => builder.mac.getNotarizeOptions('/tmp/vmdesk.app')).toThrow(
      /APPLE_APP_SPECIFIC_PASSWORD env var needs to be set/,
    );
  });
});

describe('secrets', () => {
  it('are nowhere in the packaging configuration', () => {
    const texts = [
      'electron-builder.config.cjs',
      ...fs.readdirSync(path.join(root, 'build'), { recursive: true, encoding: 'utf8' }).map((f) => `build/${f}`),
    ]
      .filter((f) => fs.statSync(path.join(root, f)).isFile())
      .map((f) => [f, fs.readFileSync(path.join(root, f), 'utf8')] as const);
    expect(texts.length).toBeGreaterThan(4);
    for (const [f, text] of texts) {
      expect(text, f).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
      // An assignment of a credential variable: APPLE_ID=..., CSC_KEY_PASSWORD: '...'.
      expect(text, f).not.toMatch(/\b(APPLE_[A-Z_]+|CSC_[A-Z_]+)\s*[:=]\s*['"]?[^\s'"]/);
    }
    const keys = JSON.stringify(config).match(/"[^"]*(password|secret|apikey|csclink|p12)[^"]*":/gi);
    expect(keys).toBeNull();
    for (const ext of ['.p12', '.p8', '.pfx', '.cer', '.keychain']) {
      expect(
        texts.filter(([f]) => f.endsWith(ext)),
        ext,
      ).toEqual([]);
    }
  });
});

/** What electron-builder hands fpm for one package. */
interface FpmRun {
  depends: string[];
  recommends: string[];
  args: string[];
  afterInstall: string;
  afterRemove: string;
  desktop: string;
}

/**
 * electron-builder's real deb and rpm targets, run on a prepackaged app directory (this machine
 * has no Electron binary to package) up to the point where they start fpm; fpm itself is replaced
 * by a function that records what it would get (fpm is a download, and cannot be had here).
 */
async function runLinuxTargets(arch: 'x64' | 'arm64'): Promise<Record<'deb' | 'rpm', FpmRun>> {
  const eb = require('electron-builder') as {
    build(o: unknown): Promise<unknown>;
    Platform: { LINUX: { createTarget(t: string[], a: number): unknown } };
    Arch: Record<string, number>;
  };
  interface FpmConfiguration {
    target: 'deb' | 'rpm';
    args: string[];
    customDepends?: string[];
    customRecommends?: string[];
  }
  type FpmProto = { executeFpm(t: string, c: FpmConfiguration): Promise<void> };
  const proto = (require('app-builder-lib/out/targets/FpmTarget.js') as { default: { prototype: FpmProto } }).default
    .prototype;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-builder-'));
  const runs: Partial<Record<'deb' | 'rpm', FpmRun>> = {};
  const after = (args: string[], flag: string) => fs.readFileSync(args[args.indexOf(flag) + 1]!, 'utf8');
  const spy = vi.spyOn(proto, 'executeFpm').mockImplementation(async (target, c) => {
    const desktop = c.args.find((a) => a.endsWith('=/usr/share/applications/vmdesk.desktop'))!.split('=')[0]!;
    runs[c.target] = {
      depends: c.customDepends ?? [],
      recommends: c.customRecommends ?? [],
      args: c.args,
      afterInstall: after(c.args, '--after-install'),
      afterRemove: after(c.args, '--after-remove'),
      desktop: fs.readFileSync(desktop, 'utf8'),
    };
  });
  // A fresh copy of the configuration: electron-builder normalises parts of it in place.
  const configFile = path.join(root, 'electron-builder.config.cjs');
  delete require.cache[configFile];
  const fresh = require(configFile) as BuilderConfig;
  try {
    const app = path.join(tmp, 'linux-unpacked');
    fs.mkdirSync(path.join(app, 'resources'), { recursive: true });
    await eb.build({
      projectDir: root,
      targets: eb.Platform.LINUX.createTarget(['deb', 'rpm'], eb.Arch[arch]!),
      prepackaged: app,
      publish: 'never',
      config: {
        ...fresh,
        directories: { ...fresh.directories, output: path.join(tmp, 'out') },
        // package.json has no homepage nor author e-mail yet, which fpm's metadata needs.
        extraMetadata: { homepage: 'https://example.invalid/vmdesk' },
        linux: { ...fresh.linux, maintainer: 'vmdesk tests <tests@example.invalid>' },
      },
    });
    return { deb: runs.deb!, rpm: runs.rpm! };
  } finally {
    spy.mockRestore();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

describe("electron-builder's deb and rpm targets, up to fpm", () => {
  const hostArch = linuxBuildArch([], process.arch);
  let runs: Record<'deb' | 'rpm', FpmRun> | undefined;
  const built = async () => (runs ??= await runLinuxTargets(hostArch));

  it('hand fpm the dependencies, the recommends and the rpm Recommends tags', async () => {
    const { deb, rpm } = await built();
    const deps = linuxPackageDependencies(hostArch);
    expect(deb.depends).toEqual(deps.deb.depends);
    expect(deb.recommends).toEqual(deps.deb.recommends);
    expect(rpm.depends).toEqual(deps.rpm.depends);
    expect(rpm.args.join(' ')).toContain('--rpm-tag Recommends: virtiofsd --rpm-tag Recommends: swtpm-tools');
  }, 120_000);

  it('install our after-install and after-remove scripts byte for byte', async () => {
    for (const run of Object.values(await built())) {
      expect(run.afterInstall).toBe(fs.readFileSync(path.join(root, 'build/linux/after-install.sh'), 'utf8'));
      expect(run.afterRemove).toBe(fs.readFileSync(path.join(root, 'build/linux/after-remove.sh'), 'utf8'));
    }
  }, 120_000);

  it('install a desktop entry that opens ISOs, and no MIME XML', async () => {
    for (const run of Object.values(await built())) {
      expect(run.desktop).toContain('\nExec=/opt/vmdesk/vmdesk %U\n');
      expect(run.desktop).toContain('\nCategories=System;Emulator;\n');
      expect(run.desktop).toContain('\nMimeType=application/x-cd-image;application/x-iso9660-image;\n');
      expect(run.args.some((a) => a.includes('/usr/share/mime/'))).toBe(false);
      expect(run.args).toContain(`--architecture`);
    }
  }, 120_000);

  it('refuse to package another architecture with these dependencies', async () => {
    const other = hostArch === 'x64' ? 'arm64' : 'x64';
    await expect(runLinuxTargets(other)).rejects.toThrow(
      `The deb for ${other} would get the dependencies of ${hostArch}. Build vmdesk's Linux packages with electron-builder --linux --${other}, one architecture per run.`,
    );
  }, 120_000);
});
