/** `vmdesk log`: print the end of a VM's log, and with --follow keep printing what is appended. */
import type { LogName } from '../common/contract.js';
import { attachWritable } from '../consoles/byte-channel.js';
import { tailLines } from '../consoles/log-tail.js';
import type { DriverLink } from '../ipc/driver-link.js';

/** The last `lines` lines of `file`. */
export function printLog(file: string, lines: number, out: NodeJS.WritableStream): void {
  for (const l of tailLines(file, lines)) out.write(l + '\n');
}

/**
 * The last `lines` lines, then what is appended, through the driver's `log.tail` stream (the
 * same tail the window and the browser show), until `signal` aborts or the driver goes away.
 * A terminal that cannot keep up pauses the tail; nothing piles up in the driver.
 * Resolves with the driver's reason when it ended the stream, undefined when aborted.
 */
export async function followLog(
  link: Pick<DriverLink, 'openStream'>,
  vm: string,
  which: LogName,
  lines: number,
  out: NodeJS.WritableStream,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const stream = await link.openStream('log.tail', { vm, which, lines });
  return new Promise<string | undefined>((resolve) => {
    let detach = () => {};
    const finish = (reason?: string) => {
      detach();
      stream.close();
      resolve(reason);
    };
    if (signal?.aborted) return finish();
    signal?.addEventListener('abort', () => finish(), { once: true });
    detach = attachWritable(stream.output, out, (reason) => finish(reason));
  });
}
