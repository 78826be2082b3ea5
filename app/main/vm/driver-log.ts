/**
 * The driver's own log files (a VM's driver.log, and the driver-wide one the dispatcher's debug
 * lines go to), capped like QEMU's logs: past the cap the file becomes `<file>.1` and starts
 * again, so at most two caps of bytes exist per file.
 *
 * Each line has a level; lines less serious than the process's level (the `logLevel` setting,
 * set by the driver at start and whenever it changes) are not written. A line without a level
 * is `info`; the dispatcher's line for each call is `debug`.
 *
 * MUST NOT throw: logging never breaks an operation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LOG_LEVELS, type LogLevel } from '../common/settings-types.js';
import { capLogFile, DEFAULT_LOG_CAP_BYTES } from './log-cap.js';

/** Process-wide: one driver runs per process, and its logs all follow the one setting. */
let threshold: number = LOG_LEVELS.indexOf('debug');

export function setDriverLogLevel(level: LogLevel): void {
  threshold = LOG_LEVELS.indexOf(level);
}

export function driverLogLevel(): LogLevel {
  return LOG_LEVELS[threshold]!;
}

export class DriverLog {
  /** Bytes in the file as far as we know (undefined: not looked at yet). */
  #size: number | undefined;

  constructor(
    readonly file: string,
    private readonly capBytes = DEFAULT_LOG_CAP_BYTES,
  ) {}

  write(line: string, level: LogLevel = 'info'): void {
    if (LOG_LEVELS.indexOf(level) > threshold) return;
    const text = `${new Date().toISOString()} [${process.pid}] ${level === 'info' ? '' : `${level.toUpperCase()} `}${line}\n`;
    try {
      if (this.#size === undefined) {
        fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
        this.#size = fileSize(this.file);
      }
      fs.appendFileSync(this.file, text, { mode: 0o600 });
      this.#size += Buffer.byteLength(text);
      // Another process (a CLI driver before us) may have written too: the real size decides.
      if (this.#size > this.capBytes) {
        capLogFile(this.file, this.capBytes);
        this.#size = fileSize(this.file);
      }
    } catch {
      this.#size = undefined;
    }
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
