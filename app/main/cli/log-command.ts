/** `vmdesk log`: print the end of a VM's log, and with --follow keep printing what is appended. */
import fs from 'node:fs';
import path from 'node:path';
import { tailLines } from '../vm/log-cap.js';

export async function printLog(file: string, lines: number, follow: boolean, out: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
  for (const l of tailLines(file, lines)) out.write(l + '\n');
  if (!follow) return;
  let pos = fileSize(file);
  await new Promise<void>((resolve) => {
    const readNew = () => {
      const size = fileSize(file);
      if (size < pos) pos = 0; // the log was capped (copied and truncated): start at its new beginning
      if (size === pos) return;
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.alloc(size - pos);
        fs.readSync(fd, buf, 0, buf.length, pos);
        out.write(buf);
        pos = size;
      } finally {
        fs.closeSync(fd);
      }
    };
    // The log may not exist yet (VM never started): watch its directory until it appears.
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const watcher = fs.watch(path.dirname(file), () => readNew());
    signal?.addEventListener('abort', () => { watcher.close(); resolve(); }, { once: true });
  });
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
