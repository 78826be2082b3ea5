/**
 * `log.tail`: the last lines of a log, then whatever is appended. The logs are capped by
 * copy-truncate (vm/log-cap.ts): the newest output is in `<file>`, the generation before it in
 * `<file>.1`, and a file that shrank was truncated, so reading restarts at its beginning.
 *
 * The reader is a ByteChannel with the `pause` policy: when the viewer falls behind, the tail
 * simply stops reading the file and catches up from where it was once the viewer drained (what
 * a rotation removed meanwhile is skipped, as `tail -F` does).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ByteChannel, STREAM_BUDGET_BYTES, type ByteStream } from './byte-channel.js';
/** One read of appended bytes. */
const READ_BYTES = 64 * 1024;

/**
 * The last `lines` lines of a log, reaching into the previous generation (`<file>.1`) when the
 * current one is shorter: right after a rotation the newest output is all in `.1`.
 */
export function tailLines(file: string, lines: number): string[] {
  const current = tailOne(file, lines);
  if (current.length >= lines) return current;
  return [...tailOne(`${file}.1`, lines - current.length), ...current];
}

/** The last `lines` lines of one text file (reads at most the final 64 KiB). */
function tailOne(file: string, lines: number): string[] {
  if (lines <= 0) return [];
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    const all = buf.toString('utf8').split('\n');
    if (all[all.length - 1] === '') all.pop();
    return all.slice(-lines);
  } catch {
    return [];
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The last `lines` lines of `file`, then appended bytes as they come, until closed. */
export function tailLog(file: string, lines: number, budgetBytes = STREAM_BUDGET_BYTES): ByteStream {
  let paused = false;
  let closed = false;
  let pos = 0;
  const output = new ByteChannel({
    budgetBytes,
    overflow: {
      kind: 'pause',
      source: {
        pause: () => {
          paused = true;
        },
        resume: () => {
          paused = false;
          readNew();
        },
      },
    },
  });
  const readNew = () => {
    if (closed) return;
    const now = size(file);
    if (now < pos) pos = 0;
    let fd: number | undefined;
    try {
      while (!paused && !closed && pos < now) {
        fd ??= fs.openSync(file, 'r');
        const buf = Buffer.allocUnsafeSlow(Math.min(now - pos, READ_BYTES));
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        if (n <= 0) break;
        pos += n;
        output.push(n === buf.length ? buf : buf.subarray(0, n));
      }
    } catch {
      /* rotated away between stat and read: the next event catches up */
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  };
  const head = tailLines(file, lines);
  pos = size(file);
  if (head.length > 0) output.push(new TextEncoder().encode(head.join('\n') + '\n'));
  // Watch the directory: the file may not exist yet, and capping replaces its content.
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const watcher = fs.watch(path.dirname(file), { persistent: false }, (_e, f) => {
    if (!f || f === path.basename(file)) readNew();
  });
  watcher.on('error', () => watcher.close());
  return {
    output,
    input: () => {},
    close: () => {
      if (closed) return;
      closed = true;
      watcher.close();
      output.dispose();
    },
  };
}

function size(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
