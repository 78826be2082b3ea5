import fs from 'node:fs';
import path from 'node:path';
import { makePrivateDir, storageError } from '../paths/storage-errors.js';

/**
 * Replaces `file` with `content` so that a crash or a full disk at any moment leaves either the
 * old file or the new one, never a mix: write a temp file in the same directory, fsync it,
 * rename over, fsync the directory. On failure the temp file is removed and the error rethrown;
 * a full, read-only or forbidden directory as a `storage` error naming it (a write on an fd
 * alone would not say which file it was).
 */
export function writeFileAtomic(
  file: string,
  content: string | Uint8Array,
  mode = 0o600,
  /** false: no fsync (still atomic against a crash of this process, not against a power loss). */
  durable = true,
): void {
  const dir = path.dirname(file);
  makePrivateDir(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    fs.writeFileSync(fd, content);
    if (durable) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    } catch {
      /* the first error is the one to report */
    }
    throw storageError(err, file);
  }
  if (durable) fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems (and macOS for directories) refuse fsync on a directory; the rename is
    // still atomic, only its durability across power loss is weaker.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
