import fs from 'node:fs';
import path from 'node:path';

/**
 * Replaces `file` with `content` so that a crash or a full disk at any moment leaves either the
 * old file or the new one, never a mix: write a temp file in the same directory, fsync it,
 * rename over, fsync the directory. On failure the temp file is removed and the error rethrown.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
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
