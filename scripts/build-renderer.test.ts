/** scripts/build-renderer.mjs, checked on its output: the fake backend the demo page runs on
 * (app/renderer/dev/) is in the demo build and nowhere in the production bundle. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEV_DIR = 'app/renderer/dev/';
/** Names only the fake backend has (dev/fake-api.ts, dev/fake-data.ts, dev/fake-streams.ts). */
const FAKE_MARKERS = ['simulateReconnect', 'vmdeskFake'];

interface Metafile {
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}
interface Built {
  code: string;
  devInputs: string[];
}

let tmp: string;
const builds = {} as Record<'production' | 'demo', Built>;

function buildRenderer(name: keyof typeof builds, flags: string[]): void {
  const outdir = path.join(tmp, name);
  const metafile = path.join(tmp, `${name}.meta.json`);
  execFileSync(
    process.execPath,
    [path.join(root, 'scripts/build-renderer.mjs'), ...flags, '--outdir', outdir, '--metafile', metafile],
    { stdio: 'pipe' },
  );
  const meta = JSON.parse(fs.readFileSync(metafile, 'utf8')) as Metafile;
  const app = Object.entries(meta.outputs).find(([out]) => out.endsWith('app.js'));
  if (!app) throw new Error(`no app.js in ${Object.keys(meta.outputs).join(', ')}`);
  builds[name] = {
    code: fs.readFileSync(path.join(outdir, 'app.js'), 'utf8'),
    devInputs: Object.entries(app[1].inputs)
      .filter(([input, { bytesInOutput }]) => input.includes(DEV_DIR) && bytesInOutput > 0)
      .map(([input]) => input),
  };
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-renderer-build-'));
  buildRenderer('production', []);
  buildRenderer('demo', ['--demo']);
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the renderer bundles', () => {
  it('the production bundle contains no byte of the fake backend', () => {
    expect(builds.production.devInputs).toEqual([]);
    for (const marker of FAKE_MARKERS) expect(builds.production.code).not.toContain(marker);
  });

  it('the demo bundle carries the fake backend (so the check above can fail)', () => {
    expect(builds.demo.devInputs).toEqual(
      expect.arrayContaining([`${DEV_DIR}fake-api.ts`, `${DEV_DIR}fake-streams.ts`]),
    );
    for (const marker of FAKE_MARKERS) expect(builds.demo.code).toContain(marker);
  });

  it('the production bundle still has the real transports', () => {
    expect(builds.production.code).toContain('vmdesk.token');
  });
});
