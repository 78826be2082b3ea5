/** `vmdesk console VM`: the terminal becomes the VM's serial console until Ctrl+] is pressed. */
import type { Readable } from 'node:stream';
import { attachWritable } from '../consoles/byte-channel.js';
import type { DriverLink } from '../ipc/driver-link.js';

/** Ctrl+] — the telnet/virsh convention, a byte no shell or editor in the guest needs. */
export const DETACH_BYTE = 0x1d;

/** The terminal's input: stdin, a TTY (raw mode while attached) or a pipe. */
export type ConsoleInput = Readable & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };

export async function attachConsole(
  link: Pick<DriverLink, 'call' | 'openStream'>,
  vm: string,
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream },
  input: ConsoleInput = process.stdin,
): Promise<number> {
  const summary = await link.call('vm.get', { vm });
  const stream = await link.openStream('console.serial', { vm: summary.id });
  const tty = input.isTTY === true;
  io.err.write(`Connected to the serial console of "${summary.name}". Press Ctrl+] to detach.\r\n`);
  return new Promise<number>((resolve) => {
    let done = false;
    let detachOut = () => {};
    const finish = (code: number, message?: string) => {
      if (done) return;
      done = true;
      input.off('data', onInput);
      input.off('end', onEof);
      io.out.off('close', onOutClosed);
      if (tty) input.setRawMode?.(false);
      input.pause();
      detachOut();
      stream.close();
      if (message) io.err.write(`\r\n${message}\r\n`);
      resolve(code);
    };
    // A paste (or `cat file |`) faster than the guest reads waits here, in the terminal, not in
    // the driver: stop reading our input while the stream is full.
    stream.onInputDrain?.(() => {
      if (!done) input.resume();
    });
    const onInput = (chunk: Buffer) => {
      const at = chunk.indexOf(DETACH_BYTE);
      if (at >= 0) {
        if (at > 0) stream.input(new Uint8Array(chunk.subarray(0, at)));
        finish(0, 'Detached. The VM keeps running.');
        return;
      }
      if (stream.input(new Uint8Array(chunk)) === false) input.pause();
    };
    const onEof = () => finish(0, 'Detached. The VM keeps running.');
    // Our output's reader went away (`vmdesk console VM | head`, see bin.ts): nobody sees the console.
    const onOutClosed = () => finish(0, 'Detached. The VM keeps running.');
    io.out.once('close', onOutClosed);
    // A terminal slower than the guest pauses this stream (and the driver drops it if it stays behind).
    detachOut = attachWritable(stream.output, io.out, (reason) => finish(0, reason.trim()));
    if (done) return detachOut(); // the stream had already ended (the VM stopped meanwhile)
    if (tty) input.setRawMode?.(true);
    input.on('data', onInput);
    input.on('end', onEof);
    input.resume();
  });
}
