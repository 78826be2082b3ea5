/**
 * The VM's swtpm as a process the driver owns: the real swtpm (installed on these machines; the
 * suite skips where it is not), with no QEMU attached. QEMU's side (swtpm ends when QEMU closes
 * its socket, adoption after a driver's SIGKILL) is in e2e/windows-ready.int.test.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { vmFiles } from '../paths/vm-files.js';
import { pidExists } from '../qemu/process.js';
import { endStraySwtpms, isOurSwtpm, swtpmArgv, SwtpmProcess, swtpmRecord } from './swtpm.js';

const swtpm = ['/usr/bin/swtpm', '/usr/local/bin/swtpm'].find((p) => fs.existsSync(p));
const roots: string[] = [];
const live: number[] = [];
afterEach(() => {
  for (const pid of live.splice(0)) if (pidExists(pid)) process.kill(pid, 'SIGKILL');
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

function setup() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vd-tpm-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  const files = vmFiles(paths, '0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b');
  fs.mkdirSync(files.runtimeDir, { recursive: true, mode: 0o700 });
  fs.mkdirSync(files.logDir, { recursive: true, mode: 0o700 });
  return { paths, files, rec: swtpmRecord(files) };
}

describe('swtpmArgv', () => {
  it('asks for a TPM 2.0 with private state and socket, a capped log, and an end with QEMU', () => {
    const { files, rec } = setup();
    const argv = swtpmArgv(rec, files.swtpmLog);
    expect(argv.slice(0, 2)).toEqual(['socket', '--tpm2']);
    expect(argv).toContain(`dir=${files.tpmStateDir},mode=0600`);
    expect(argv).toContain(`type=unixio,path=${files.swtpmSocket},mode=0600`);
    expect(argv).toContain('--terminate');
  });
});

describe.skipIf(!swtpm)('SwtpmProcess (real swtpm)', () => {
  it('starts, keeps its state private, is found by its state dir, and is ended when QEMU never came', async () => {
    const { paths, files, rec } = setup();
    const p = await SwtpmProcess.spawn(swtpm!, rec, files.swtpmLog, paths, 10_000, new AbortController().signal);
    live.push(p.pid);
    expect(fs.statSync(files.swtpmSocket).isSocket()).toBe(true);
    expect(fs.statSync(files.tpmStateDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(files.swtpmSocket).mode & 0o777).toBe(0o600);
    expect(isOurSwtpm(p.pid, files.tpmStateDir)).toBe(true);
    expect(isOurSwtpm(p.pid, files.tpmStateDir + '-other')).toBe(false);
    expect(isOurSwtpm(process.pid, files.tpmStateDir)).toBe(false);
    // A later driver finds it from the record alone (its pid, or the pidfile for pid 0).
    expect(SwtpmProcess.adopt({ ...rec, pid: 0 })?.pid).toBe(p.pid);
    // Nothing connected, so --terminate never fires: end() forces it.
    await p.end(100);
    expect(pidExists(p.pid) && isOurSwtpm(p.pid, files.tpmStateDir)).toBe(false);
    expect(fs.existsSync(files.swtpmSocket)).toBe(false);
    expect(SwtpmProcess.adopt(p.record)).toBeUndefined();
  });

  it('never leaves two on one VM: a start ends the orphan it finds first', async () => {
    const { paths, files, rec } = setup();
    const first = await SwtpmProcess.spawn(swtpm!, rec, files.swtpmLog, paths, 10_000, new AbortController().signal);
    live.push(first.pid);
    const second = await SwtpmProcess.spawn(swtpm!, rec, files.swtpmLog, paths, 10_000, new AbortController().signal);
    live.push(second.pid);
    expect(pidExists(first.pid) && isOurSwtpm(first.pid, files.tpmStateDir)).toBe(false);
    expect(isOurSwtpm(second.pid, files.tpmStateDir)).toBe(true);
    const running = execFileSync('pgrep', ['-f', files.tpmStateDir], { encoding: 'utf8' }).trim().split('\n');
    expect(running).toEqual([String(second.pid)]);
    expect(await endStraySwtpms(rec, 100)).toBe(0);
    expect(pidExists(second.pid) && isOurSwtpm(second.pid, files.tpmStateDir)).toBe(false);
  });

  it('says what swtpm said when it cannot start (its socket cannot be made)', async () => {
    const { paths, files, rec } = setup();
    // The runtime dir is gone, so swtpm cannot bind its control socket and exits.
    fs.rmSync(files.runtimeDir, { recursive: true });
    const err = await SwtpmProcess.spawn(
      swtpm!,
      rec,
      files.swtpmLog,
      paths,
      10_000,
      new AbortController().signal,
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'qemu-failed' });
    expect((err as Error).message).toMatch(/The TPM emulator \(swtpm\) exited while starting/);
    expect((err as Error).message).toContain(files.swtpmLog);
  });
});
