/** `vmdesk console VM`: the terminal becomes the VM's serial console until Ctrl+] is pressed. */
import type { DriverLink } from '../ipc/driver-link.js';
import type { CliIo } from './main.js';

/** Ctrl+] — the telnet/virsh convention, a byte no shell or editor in the guest needs. */
export const DETACH_BYTE = 0x1d;

export async function attachConsole(link: DriverLink, vm: string, io: CliIo, input: NodeJS.ReadStream = process.stdin): Promise<number> {
  const summary = await link.call('vm.get', { vm });
  const channel = await link.openStream('console.serial', { vm: summary.id });
  const tty = input.isTTY === true;
  io.err.write(`Connected to the serial console of "${summary.name}". Press Ctrl+] to detach.\r\n`);
  return new Promise<number>((resolve) => {
    let done = false;
    const finish = (code: number, message?: string) => {
      if (done) return;
      done = true;
      input.off('data', onInput);
      input.off('end', onEof);
      if (tty) input.setRawMode(false);
      input.pause();
      channel.close();
      if (message) io.err.write(`\r\n${message}\r\n`);
      resolve(code);
    };
    const onInput = (chunk: Buffer) => {
      const at = chunk.indexOf(DETACH_BYTE);
      if (at >= 0) {
        if (at > 0) channel.write(new Uint8Array(chunk.subarray(0, at)));
        finish(0, 'Detached. The VM keeps running.');
        return;
      }
      channel.write(new Uint8Array(chunk));
    };
    const onEof = () => finish(0, 'Detached. The VM keeps running.');
    channel.onData((c) => { io.out.write(c); });
    channel.onEnd((reason) => finish(0, reason.trim()));
    if (tty) input.setRawMode(true);
    input.on('data', onInput);
    input.on('end', onEof);
    input.resume();
  });
}
