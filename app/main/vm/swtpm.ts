/**
 * swtpm, the TPM 2.0 emulator behind a VM's TPM: one of the helper processes of a VM's run
 * (helper-process.ts). Its state is private in the VM's data dir, its control socket in the VM's
 * runtime dir; `--terminate` makes it end when QEMU closes that socket, however QEMU ends.
 */
import path from 'node:path';
import type { AppPaths } from '../paths/app-paths.js';
import { makePrivateDir } from '../paths/storage-errors.js';
import type { VmFiles } from '../paths/vm-files.js';
import type { HelperRecord } from './helper-process.js';

const esc = (s: string) => s.replace(/,/g, ',,');

/** The record and command line of a VM's swtpm: TPM 2.0, private state and socket, errors to
 * its log (opened O_APPEND, checked, so the driver caps it by copy-and-truncate), gone with QEMU. */
export function swtpmHelper(files: VmFiles): { record: HelperRecord; argv: string[]; logFile: string } {
  const state = `dir=${esc(files.tpmStateDir)},mode=0600`;
  return {
    record: {
      kind: 'swtpm',
      pid: 0,
      socket: files.swtpmSocket,
      marker: state,
      pidfile: files.swtpmPidfile,
      log: files.swtpmLog,
    },
    argv: [
      'socket',
      '--tpm2',
      '--tpmstate',
      state,
      '--ctrl',
      `type=unixio,path=${esc(files.swtpmSocket)},mode=0600`,
      '--pid',
      `file=${esc(files.swtpmPidfile)}`,
      '--log',
      `file=${esc(files.swtpmLog)},level=1`,
      '--terminate',
    ],
    logFile: files.swtpmLog,
  };
}

/** The TPM's state dir, private (0700), before swtpm starts. */
export function prepareTpmState(files: VmFiles, paths: AppPaths): void {
  makePrivateDir(path.dirname(files.tpmStateDir), paths);
  makePrivateDir(files.tpmStateDir, paths);
}
