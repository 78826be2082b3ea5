/**
 * VNC: one unix-socket connection to QEMU's VNC server per viewer (QEMU shares the display
 * between clients), bytes passed through untouched.
 *
 * The proxy is 1:1, so a viewer that falls behind pauses QEMU's socket (QEMU then holds its
 * framebuffer updates back: it throttles a client whose output buffer is full) rather than being
 * dropped; input that arrives before the connection is up, or while QEMU does not read it, waits
 * in a channel of its own, and `input` returns false meanwhile so the transport holds the rest.
 */
import net from 'node:net';
import { ByteChannel, STREAM_BUDGET_BYTES, type ByteStream } from './byte-channel.js';

/** `budgetBytes`: what each direction may hold: output before QEMU's socket is paused; input
 * before the viewer is disconnected (QEMU stopped reading it). */
export function proxyVnc(socketPath: string, budgetBytes = STREAM_BUDGET_BYTES): ByteStream {
  const sock = net.createConnection(socketPath);
  let closed = false;
  const output = new ByteChannel({ budgetBytes, overflow: { kind: 'pause', source: sock } });
  const input = new ByteChannel({
    budgetBytes,
    overflow: { kind: 'drop' },
    dropReason: 'The VM display stopped taking input; the viewer was disconnected.',
    onDrop: (reason) => {
      output.drop(reason);
      sock.destroy();
    },
  });
  let onDrain: (() => void) | undefined;
  /** Every byte of input is in QEMU's socket, which takes more. */
  const flowing = () => !input.isReaderBlocked && input.queuedBytes === 0;
  const drained = () => {
    if (input.isOpen && flowing()) onDrain?.();
  };
  sock.on('connect', () => {
    input.attach({ write: (d) => sock.write(d), end: () => {} });
    drained();
  });
  sock.on('drain', () => {
    input.resume();
    drained();
  });
  sock.on('data', (d: Buffer) => {
    output.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  });
  sock.on('error', () => {});
  sock.on('close', () => {
    if (!closed) output.end('The VM stopped.');
  });
  return {
    output,
    input: (d) => input.push(d) && flowing(),
    onInputDrain: (listener) => {
      onDrain = listener;
    },
    close: () => {
      if (closed) return;
      closed = true;
      input.dispose();
      output.dispose();
      sock.destroy();
    },
  };
}
