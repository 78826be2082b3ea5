/**
 * Shared folders: a host directory the guest mounts. virtio-fs (one virtiofsd per share, a helper
 * process of the VM's run, QEMU's memory shared with it through memfd) where virtiofsd can serve
 * it as this user; else 9p (QEMU itself serves the directory, `security_model=mapped-xattr`), and
 * the reason is said. QEMU 7.2's own virtiofsd (C) needs root and cannot share read-only; the
 * Rust virtiofsd (Debian 13, Fedora) runs as the user (`--sandbox none`) and can.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import type { ShareSpec } from '../common/vm-types.js';
import type { VirtiofsdReport } from '../common/host-types.js';
import type { VmFiles } from '../paths/vm-files.js';
import { shareFiles } from '../paths/vm-files.js';
import type { HelperRecord } from './helper-process.js';

export type ShareMode = 'virtiofs' | '9p';

/** How one share is served, and why not virtio-fs when it is not. */
export interface SharePlan {
  share: ShareSpec;
  mode: ShareMode;
  reason?: string;
}

export function planShares(shares: readonly ShareSpec[], virtiofsd: VirtiofsdReport, asRoot: boolean): SharePlan[] {
  return shares.map((share) => {
    if (!virtiofsd.path)
      return { share, mode: '9p', reason: `virtiofsd is not installed${virtiofsd.fix ? ` (${virtiofsd.fix})` : ''}` };
    if (virtiofsd.flavour === 'qemu' && !asRoot)
      return {
        share,
        mode: '9p',
        reason: `${virtiofsd.path} (QEMU's own virtiofsd) runs only as root; the Rust virtiofsd runs as you (Debian 13, Fedora: package virtiofsd)`,
      };
    if (virtiofsd.flavour === 'qemu' && share.readOnly)
      return { share, mode: '9p', reason: `${virtiofsd.path} cannot share a folder read-only` };
    return { share, mode: 'virtiofs' };
  });
}

/** The command a guest runs to mount the share. */
export function mountCommand(p: Pick<SharePlan, 'mode'> & { share: Pick<ShareSpec, 'tag'> }): string {
  return p.mode === 'virtiofs'
    ? `mount -t virtiofs ${p.share.tag} /mnt`
    : `mount -t 9p -o trans=virtio,version=9p2000.L ${p.share.tag} /mnt`;
}

/** The record and command line of the virtiofsd serving share number `index`. */
export function virtiofsdHelper(
  files: VmFiles,
  share: ShareSpec,
  index: number,
  virtiofsd: { path: string; flavour: 'qemu' | 'rust' },
): { record: HelperRecord; argv: string[]; logFile: string } {
  const f = shareFiles(files, index);
  const socket = `--socket-path=${f.socket}`;
  const argv =
    virtiofsd.flavour === 'qemu'
      ? [socket, '-o', `source=${share.path}`, '-o', 'cache=auto', '-o', 'log_level=warn']
      : [
          socket,
          `--shared-dir=${share.path}`,
          '--cache=auto',
          '--log-level=warn',
          // As the user there is nothing to sandbox with; as root, the default (namespaces).
          ...(process.getuid?.() === 0 ? [] : ['--sandbox=none']),
          ...(share.readOnly ? ['--readonly'] : []),
        ];
  return { record: { kind: 'virtiofsd', pid: 0, socket: f.socket, marker: socket, log: f.log }, argv, logFile: f.log };
}

/** Shares as stored: absolute paths of directories that exist, read-write unless said. */
export function checkedShares(shares: readonly { path: string; tag: string; readOnly?: boolean }[]) {
  return shares.map((s) => {
    const abs = path.resolve(s.path);
    if (!fs.statSync(abs, { throwIfNoEntry: false })?.isDirectory())
      throw new VmdeskError('invalid-argument', `${abs} is not a directory: share a folder that exists.`, {
        field: 'shares',
      });
    return { path: abs, tag: s.tag, readOnly: s.readOnly ?? false };
  });
}
