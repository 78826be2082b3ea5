/**
 * Size caps for logs that QEMU writes itself (stderr → qemu.log, the serial chardev's logfile).
 *
 * QEMU holds those files open with O_APPEND, so they cannot be renamed away (QEMU would keep
 * writing into the renamed file). Instead: copy the current file to `<file>.1` and truncate the
 * original; O_APPEND makes QEMU's next write land at the new end. At most 2 × cap bytes exist,
 * and the newest output is always in `<file>`, the one before it in `<file>.1`.
 * Bytes QEMU writes between the copy and the truncate are lost; at the rates that trigger a
 * rotation that is a few KiB in 8 MiB.
 */
import fs from 'node:fs';

export const DEFAULT_LOG_CAP_BYTES = 8 * 1024 * 1024;

/** Rotates `file` if it is larger than `capBytes`. Returns true if it rotated. */
export function capLogFile(file: string, capBytes = DEFAULT_LOG_CAP_BYTES): boolean {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return false;
  }
  if (size <= capBytes) return false;
  const previous = `${file}.1`;
  // The copy keeps only the last capBytes: one flood write can exceed the cap by itself.
  const start = size - capBytes;
  const fdIn = fs.openSync(file, 'r');
  const fdOut = fs.openSync(previous, 'w', 0o600);
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let pos = start;
    // Up to the size seen above: QEMU may append while we copy, and `.1` must stay within the cap.
    while (pos < size) {
      const n = fs.readSync(fdIn, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n <= 0) break;
      fs.writeSync(fdOut, buf, 0, n);
      pos += n;
    }
  } finally {
    fs.closeSync(fdIn);
    fs.closeSync(fdOut);
  }
  fs.truncateSync(file, 0);
  return true;
}

/**
 * Keeps one file under its cap while the driver runs: checks when the file changes (inotify /
 * FSEvents through fs.watch, not a timer), at most once per `minIntervalMs`.
 * Returns a disposer.
 */
export function watchLogCap(file: string, capBytes = DEFAULT_LOG_CAP_BYTES, minIntervalMs = 500): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watcher: fs.FSWatcher | undefined;
  let stopped = false;
  const unwatch = () => {
    watcher?.close();
    watcher = undefined;
  };
  // One change event is all a check needs: stop listening until it has run. QEMU writes the
  // serial log a byte at a time (one write per byte the guest sends), and a watcher left armed
  // woke the driver for each of them: 4 in 5 of its wake-ups during a console flood.
  const arm = () => {
    if (stopped || watcher) return;
    try {
      watcher = fs.watch(file, { persistent: false }, () => {
        unwatch();
        timer ??= setTimeout(check, minIntervalMs);
      });
      watcher.on('error', unwatch);
    } catch {
      // The file does not exist yet: nothing to cap.
    }
  };
  const check = () => {
    timer = undefined;
    try {
      capLogFile(file, capBytes);
    } catch {
      // A vanished or unreadable log must not take the driver down; the next change retries.
    }
    arm();
  };
  capLogFile(file, capBytes);
  arm();
  return () => {
    stopped = true;
    unwatch();
    if (timer) clearTimeout(timer);
  };
}
