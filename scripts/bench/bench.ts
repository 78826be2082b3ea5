/**
 * `npm run bench` (issue 8): how vmdesk compares with raw QEMU and libvirt's session mode, and
 * whether it meets its targets. A benchmark, not a test: it prints one markdown table on stdout
 * (progress goes to stderr) and writes every raw number to JSON. It installs nothing.
 *
 *   npm run bench [-- --runs N | --quick] [--out FILE]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createHostServices } from '../../app/main/vm/host-adapter.js';
import { REPO } from '../../e2e/support/cli.js';
import type { BenchContext } from './context.js';
import { benchDriverIdle, benchDriverRss } from './driver-load.js';
import { findVirsh } from './libvirt.js';
import { benchList } from './list-latency.js';
import { benchLibvirtHosts } from './libvirt-hosts.js';
import { describeMachine, formatMachine } from './machine.js';
import { BenchSandbox, cleanupAllSandboxes, definitionsTemplate, VMDESK } from './sandbox.js';
import { benchVnc } from './vnc.js';
import { benchForward } from './forward.js';
import { benchClone } from './clone.js';
import { benchSerial } from './serial.js';
import { benchSnapshot } from './snapshot.js';
import { benchStartStop } from './start-stop.js';
import { benchThumbnails } from './thumbnails.js';
import type { Figure } from './stats.js';
import { judge, renderTable, toJson } from './table.js';

const USAGE = `Usage: npm run bench [-- --runs N | --quick] [--only SECTION,...] [--out FILE]
  --runs N    repetitions per figure (default 10), interleaved across the systems compared
  --quick     3 repetitions
  --only S    only these sections (comma-separated): start-stop, driver, list, serial, vnc, forward, clone,
              snapshot, libvirt-hosts, thumbnails
  --out FILE  where the raw numbers go (default ./bench-results.json)
`;
const DEFINED_VMS = 200;

const SECTIONS = [
  'start-stop',
  'driver',
  'list',
  'serial',
  'vnc',
  'forward',
  'clone',
  'snapshot',
  'libvirt-hosts',
  'thumbnails',
] as const;
type Section = (typeof SECTIONS)[number];

function options(): { runs: number; out: string; quick: boolean; only: Set<Section> } {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      runs: { type: 'string' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const runs = values.runs !== undefined ? Number(values.runs) : values.quick ? 3 : 10;
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs takes a whole number of 1 or more, not "${values.runs}"`);
  const only = (values.only ?? SECTIONS.join(',')).split(',').map((x) => x.trim());
  const unknown = only.find((x) => !(SECTIONS as readonly string[]).includes(x));
  if (unknown !== undefined) throw new Error(`--only takes sections from ${SECTIONS.join(', ')}, not "${unknown}"`);
  return {
    runs,
    out: path.resolve(values.out ?? 'bench-results.json'),
    quick: !!values.quick,
    only: new Set(only as Section[]),
  };
}

/** e2e/guest/build-guest.sh prints the ISO path as its last stdout line (cached after the first build). */
function buildGuest(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO, 'e2e/guest/build-guest.sh')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const iso = out.trim().split('\n').pop() ?? '';
      if (code === 0 && path.isAbsolute(iso) && fs.existsSync(iso)) resolve(iso);
      else
        reject(
          new Error(
            `e2e/guest/build-guest.sh failed (exit ${code}); it needs the packages listed in README "Run all tests"`,
          ),
        );
    });
  });
}

async function main(): Promise<void> {
  const opts = options();
  // This bench must be comparable across machines where KVM is flaky: TCG unless the user asks.
  process.env.VMDESK_ACCEL ??= 'tcg';
  if (!fs.existsSync(VMDESK)) throw new Error(`${VMDESK} not found: run the bench from the built repo (npm run bench)`);
  const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);
  const began = Date.now();

  progress('building/locating the test guest');
  const iso = await buildGuest();
  progress('probing QEMU once (fills the capability cache that warm runs copy)');
  const template = new BenchSandbox();
  const host = createHostServices(template.paths);
  const caps = await host.qemuCaps('x86_64');
  const accel = (await host.chooseAccel('auto', caps)).accel;
  const virsh = findVirsh();
  const ctx: BenchContext = {
    iso,
    runs: opts.runs,
    caps,
    accel,
    cacheTemplate: template.paths.cache,
    progress,
    ...(virsh ? { virsh } : {}),
  };
  const machine = describeMachine(caps.binary);
  const defs = definitionsTemplate(iso, DEFINED_VMS);

  const figures: Figure[] = [];
  try {
    const on = (s: Section) => opts.only.has(s);
    if (on('start-stop')) figures.push(...(await benchStartStop(ctx)));
    if (on('driver')) figures.push(await benchDriverIdle(ctx), ...(await benchDriverRss(ctx, defs, DEFINED_VMS)));
    if (on('list')) figures.push(...(await benchList(ctx, defs, DEFINED_VMS)));
    if (on('serial')) figures.push(...(await benchSerial(ctx)));
    if (on('vnc')) figures.push(...(await benchVnc(ctx)));
    if (on('forward')) figures.push(...(await benchForward(ctx)));
    if (on('clone')) figures.push(...(await benchClone(ctx)));
    if (on('snapshot')) figures.push(...(await benchSnapshot(ctx)));
    if (on('libvirt-hosts')) figures.push(...(await benchLibvirtHosts(ctx)));
    if (on('thumbnails')) figures.push(...(await benchThumbnails(ctx)));
  } finally {
    cleanupAllSandboxes();
  }
  judge(figures);

  const header =
    `${formatMachine(machine)}\n` +
    `Accelerator: ${accel} · ${opts.runs} runs per figure, interleaved across systems, after one warm-up round · targets judged on the median`;
  process.stdout.write(`${header}\n\n${renderTable(figures)}\n\n`);
  const json = {
    date: new Date(began).toISOString(),
    durationS: Math.round((Date.now() - began) / 1000),
    options: { ...opts, accel },
    machine,
    figures: toJson(figures),
  };
  fs.writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');
  process.stdout.write(`Raw numbers: ${opts.out} (${json.durationS} s)\n`);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    // Detached QEMUs would outlive the bench otherwise.
    cleanupAllSandboxes();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  cleanupAllSandboxes();
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
