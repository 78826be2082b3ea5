/** UEFI firmware discovery from QEMU's firmware descriptors (docs/interop/firmware.json), with
 * well-known paths as the fallback for distros that ship the files but no descriptors. */
import path from 'node:path';
import * as v from 'valibot';
import type { HostFs } from './host-io.js';
import { errnoOf } from './host-io.js';
import type { OsFamily } from './install-hints.js';
import { firmwareInstallHint } from './install-hints.js';
import { ARCHES } from './qemu-caps.js';
import type { Env } from './qemu-discovery.js';
import type { Arch, FirmwareImage, FirmwareReport } from '../common/host-types.js';

/** Descriptor directories, general → specific. firmware.json: build one list from all of them,
 * a file in a more specific directory replaces a same-named one in a general one (an empty file
 * hides it), then sort by file name and take the first match. Homebrew's prefixes are distro-level
 * (its qemu installs descriptors there). */
export function firmwareDescriptorDirs(env: Env): string[] {
  const configHome = env['XDG_CONFIG_HOME'] || (env['HOME'] ? path.join(env['HOME'], '.config') : undefined);
  return [
    '/opt/homebrew/share/qemu/firmware',
    '/usr/local/share/qemu/firmware',
    '/usr/share/qemu/firmware',
    '/etc/qemu/firmware',
    ...(configHome ? [path.join(configHome, 'qemu', 'firmware')] : []),
  ];
}

interface WellKnown {
  code: string;
  vars: string;
  description: string;
}

/** Where distros put edk2 builds, for hosts whose packages install no descriptors. */
export const WELL_KNOWN_FIRMWARE: Record<Arch, WellKnown[]> = {
  x86_64: [
    {
      code: '/usr/share/OVMF/OVMF_CODE_4M.fd',
      vars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
      description: 'OVMF 4M (Debian/Ubuntu)',
    },
    {
      code: '/usr/share/OVMF/OVMF_CODE.fd',
      vars: '/usr/share/OVMF/OVMF_VARS.fd',
      description: 'OVMF 2M (older Debian/Ubuntu)',
    },
    {
      code: '/usr/share/edk2/ovmf/OVMF_CODE.fd',
      vars: '/usr/share/edk2/ovmf/OVMF_VARS.fd',
      description: 'OVMF (Fedora)',
    },
    {
      code: '/usr/share/edk2/x64/OVMF_CODE.4m.fd',
      vars: '/usr/share/edk2/x64/OVMF_VARS.4m.fd',
      description: 'OVMF 4M (Arch)',
    },
    {
      code: '/opt/homebrew/share/qemu/edk2-x86_64-code.fd',
      vars: '/opt/homebrew/share/qemu/edk2-i386-vars.fd',
      description: 'edk2 (Homebrew)',
    },
    {
      code: '/usr/local/share/qemu/edk2-x86_64-code.fd',
      vars: '/usr/local/share/qemu/edk2-i386-vars.fd',
      description: 'edk2 (Homebrew, Intel)',
    },
  ],
  aarch64: [
    {
      code: '/usr/share/AAVMF/AAVMF_CODE.fd',
      vars: '/usr/share/AAVMF/AAVMF_VARS.fd',
      description: 'AAVMF (Debian/Ubuntu)',
    },
    {
      code: '/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw',
      vars: '/usr/share/edk2/aarch64/vars-template-pflash.raw',
      description: 'edk2 (Fedora)',
    },
    {
      code: '/opt/homebrew/share/qemu/edk2-aarch64-code.fd',
      vars: '/opt/homebrew/share/qemu/edk2-arm-vars.fd',
      description: 'edk2 (Homebrew)',
    },
    {
      code: '/usr/local/share/qemu/edk2-aarch64-code.fd',
      vars: '/usr/local/share/qemu/edk2-arm-vars.fd',
      description: 'edk2 (Homebrew, Intel)',
    },
  ],
};

const DEFAULT_MACHINES: Record<Arch, string[]> = { x86_64: ['pc-q35-*', 'pc-i440fx-*'], aarch64: ['virt-*'] };

const flashFile = v.looseObject({ filename: v.string(), format: v.string() });
const descriptorSchema = v.looseObject({
  description: v.optional(v.string()),
  'interface-types': v.array(v.string()),
  mapping: v.looseObject({
    device: v.string(),
    executable: v.optional(flashFile),
    'nvram-template': v.optional(flashFile),
  }),
  targets: v.array(v.looseObject({ architecture: v.string(), machines: v.array(v.string()) })),
  features: v.optional(v.array(v.string()), []),
});

/** The images a descriptor offers for our architectures; `problem` when it is malformed;
 * neither when it is valid but irrelevant (BIOS, memory-mapped SEV builds, other targets). */
export function parseFirmwareDescriptor(json: unknown, source: string): { images: FirmwareImage[]; problem?: string } {
  const parsed = v.safeParse(descriptorSchema, json);
  if (!parsed.success)
    return {
      images: [],
      problem: `${source}: not a firmware descriptor (${v.summarize(parsed.issues).split('\n')[0]})`,
    };
  const d = parsed.output;
  if (!d['interface-types'].includes('uefi') || d.mapping.device !== 'flash') return { images: [] };
  const code = d.mapping.executable;
  if (!code) return { images: [], problem: `${source}: flash mapping without an executable` };
  const vars = d.mapping['nvram-template'];
  const format = code.format;
  if ((format !== 'raw' && format !== 'qcow2') || (vars && vars.format !== format)) {
    return { images: [], problem: `${source}: unsupported image format ${format}${vars ? `/${vars.format}` : ''}` };
  }
  const images: FirmwareImage[] = [];
  for (const t of d.targets) {
    if (!(ARCHES as readonly string[]).includes(t.architecture)) continue;
    images.push({
      arch: t.architecture as Arch,
      source,
      description: d.description ?? path.basename(source),
      code: code.filename,
      ...(vars ? { varsTemplate: vars.filename } : {}),
      format,
      machines: t.machines,
      secureBoot: d.features.includes('secure-boot'),
      enrolledKeys: d.features.includes('enrolled-keys'),
      requiresSmm: d.features.includes('requires-smm'),
      features: d.features,
    });
  }
  return { images };
}

async function readable(fs: HostFs, p: string): Promise<string | undefined> {
  try {
    await fs.access(p, 'read');
    return undefined;
  } catch (err) {
    return errnoOf(err) === 'ENOENT' ? 'does not exist' : `is not readable (${errnoOf(err) ?? (err as Error).message})`;
  }
}

/** Merged descriptor list (file name → winning path), sorted by file name. */
async function mergedDescriptors(fs: HostFs, dirs: readonly string[]): Promise<string[]> {
  const listings = await Promise.all(dirs.map((d) => fs.readDir(d).catch(() => [] as string[])));
  const winner = new Map<string, string>();
  dirs.forEach((dir, i) => {
    for (const name of listings[i] ?? []) if (name.endsWith('.json')) winner.set(name, path.join(dir, name));
  });
  return [...winner.keys()].sort().map((name) => winner.get(name)!);
}

export interface FirmwareProbeInput {
  fs: HostFs;
  env: Env;
  osFamily: OsFamily;
}

export async function probeFirmware(input: FirmwareProbeInput): Promise<FirmwareReport> {
  const { fs } = input;
  const searchedDirs = firmwareDescriptorDirs(input.env);
  const problems: string[] = [];
  const images: FirmwareImage[] = [];

  const files = await mergedDescriptors(fs, searchedDirs);
  const texts = await Promise.all(
    files.map((f) =>
      fs.readText(f).then(
        (t) => ({ t }),
        (err: unknown) => ({ err }),
      ),
    ),
  );
  // Every file is checked at once (a few dozen accesses on libuv's pool): one after the other,
  // they took ~15 ms while a first start waited for them next to a QEMU starting up.
  const described: { file: string; img: FirmwareImage }[] = [];
  for (const [i, file] of files.entries()) {
    const r = texts[i]!;
    if ('err' in r) {
      problems.push(`${file}: cannot be read (${errnoOf(r.err) ?? String(r.err)})`);
      continue;
    }
    if (r.t.trim() === '') continue; // an empty file deliberately hides a less specific one
    let json: unknown;
    try {
      json = JSON.parse(r.t);
    } catch (err) {
      problems.push(`${file}: malformed JSON (${(err as Error).message})`);
      continue;
    }
    const parsed = parseFirmwareDescriptor(json, file);
    if (parsed.problem) problems.push(parsed.problem);
    for (const img of parsed.images) described.push({ file, img });
  }
  const wellKnown = ARCHES.flatMap((arch) => WELL_KNOWN_FIRMWARE[arch].map((wk) => ({ arch, wk })));
  const [describedProblems, wellKnownProblems] = await Promise.all([
    Promise.all(
      described.map(({ img }) =>
        Promise.all([readable(fs, img.code), img.varsTemplate ? readable(fs, img.varsTemplate) : undefined]),
      ),
    ),
    Promise.all(wellKnown.map(({ wk }) => Promise.all([readable(fs, wk.code), readable(fs, wk.vars)]))),
  ]);
  for (const [i, { file, img }] of described.entries()) {
    const [codeProblem, varsProblem] = describedProblems[i]!;
    if (codeProblem || varsProblem) {
      problems.push(
        `${file}: skipped, ${codeProblem ? `${img.code} ${codeProblem}` : `${img.varsTemplate} ${varsProblem}`}`,
      );
      continue;
    }
    images.push(img);
  }

  const missing: FirmwareReport['missing'] = [];
  for (const arch of ARCHES) {
    if (images.some((i) => i.arch === arch)) continue;
    const usable = wellKnown.filter(
      (w, i) => w.arch === arch && !wellKnownProblems[i]![0] && !wellKnownProblems[i]![1],
    );
    for (const { wk } of usable)
      images.push({
        arch,
        source: 'well-known path',
        description: wk.description,
        code: wk.code,
        varsTemplate: wk.vars,
        format: 'raw',
        machines: DEFAULT_MACHINES[arch],
        secureBoot: false,
        enrolledKeys: false,
        requiresSmm: false,
        features: [],
      });
    if (usable.length === 0) {
      missing.push({
        arch,
        reason: `no UEFI firmware for ${arch} guests: no usable descriptor in ${searchedDirs.join(', ')}, and none of the usual files (${WELL_KNOWN_FIRMWARE[arch][0]!.code}, ...) exist`,
        fix: firmwareInstallHint(input.osFamily, arch),
      });
    }
  }
  return { images, missing, problems, searchedDirs };
}

function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(name);
}

/** Descriptors list versioned machine types only ("pc-q35-*"); QEMU's unversioned aliases stand
 * for the newest version, so they are matched as such. */
const MACHINE_ALIASES: Record<string, string> = { q35: 'pc-q35-99.0', pc: 'pc-i440fx-99.0', virt: 'virt-99.0' };

/**
 * The first image (report order = precedence) for `arch` whose machine globs match `machine`
 * ("pc-q35-7.2", or one of the aliases q35, pc, virt), with a vars template, and whose
 * secure-boot feature equals `secureBoot`. Secure boot prefers images with enrolled keys.
 */
export function pickFirmware(
  report: FirmwareReport,
  arch: Arch,
  machine: string,
  opts: { secureBoot?: boolean } = {},
): FirmwareImage | undefined {
  const secureBoot = opts.secureBoot ?? false;
  const name = MACHINE_ALIASES[machine] ?? machine;
  const candidates = report.images.filter(
    (i) =>
      i.arch === arch && i.varsTemplate && i.secureBoot === secureBoot && i.machines.some((g) => globMatches(g, name)),
  );
  return (secureBoot ? candidates.find((i) => i.enrolledKeys) : undefined) ?? candidates[0];
}
