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
import { Duplex } from 'node:stream';
import { ByteChannel, STREAM_BUDGET_BYTES, type ByteStream } from './byte-channel.js';

/** `budgetBytes`: what each direction may hold: output before QEMU's socket is paused; input
 * before the viewer is disconnected (QEMU stopped reading it). `target`: QEMU's VNC socket path,
 * or a connection being made another way (a TCP port, an SSH tunnel), which ends the viewer with
 * its error's message if it fails. */
export function proxyVnc(target: string | Promise<Duplex>, budgetBytes = STREAM_BUDGET_BYTES): ByteStream {
  if (typeof target === 'string') return proxyTo(net.createConnection(target), budgetBytes);
  const gate = new PassThroughDuplex();
  const stream = proxyTo(gate, budgetBytes);
  target.then(
    (sock) => gate.join(sock),
    (err: unknown) => gate.fail(err instanceof Error ? err.message : String(err)),
  );
  return stream;
}

/**
 * Connects to QEMU's VNC socket first, then proxies it: rejects with the connection's error
 * (ENOENT, EACCES...) instead of ending a stream, so that the caller can go another way.
 */
export function connectVnc(sockPath: string, budgetBytes = STREAM_BUDGET_BYTES): Promise<ByteStream> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(sockPath);
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.off('error', reject);
      resolve(proxyTo(sock, budgetBytes, true));
    });
  });
}

/** `connected`: `sock` is connected already (it will not say 'connect'). */
function proxyTo(sock: Duplex, budgetBytes: number, connected = false): ByteStream {
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
  const onConnect = () => {
    input.attach({ write: (d) => sock.write(d), end: () => {} });
    drained();
  };
  if (connected) onConnect();
  else sock.once('connect', onConnect);
  sock.on('drain', () => {
    input.resume();
    drained();
  });
  sock.on('data', (d: Buffer) => {
    output.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  });
  sock.on('error', () => {});
  sock.on('close', () => {
    if (!closed) output.end((sock as { failure?: string }).failure ?? 'The VM stopped.');
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

/**
 * Stands in for a connection that is still being made: says 'connect' once it is joined to the
 * real one and passes everything through both ways (pause and resume included); a failure closes
 * it with `failure` as the reason.
 */
class PassThroughDuplex extends Duplex {
  failure?: string;
  #real?: Duplex;

  join(real: Duplex): void {
    if (this.destroyed) {
      real.destroy();
      return;
    }
    this.#real = real;
    real.on('data', (d: Buffer) => {
      if (!this.push(d)) real.pause();
    });
    real.on('drain', () => this.emit('drain'));
    real.on('error', (err: Error) => {
      this.failure ??= err.message;
    });
    real.on('close', () => this.destroy());
    this.emit('connect');
  }

  fail(reason: string): void {
    this.failure = reason;
    this.destroy();
  }

  override _read(): void {
    this.#real?.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (!this.#real) return done(new Error('not connected'));
    if (this.#real.write(chunk)) done();
    else this.#real.once('drain', () => done());
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.#real?.destroy();
    done(err);
  }
}
