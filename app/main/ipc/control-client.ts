/**
 * Client side of the control socket (see control-socket.ts for the protocol).
 */
import net from 'node:net';
import type {
  CallName,
  CallParams,
  CallResults,
  ContractEvents,
  EventName,
  StreamName,
  StreamParams,
} from '../common/contract.js';
import { VmdeskError, type SerializedError } from '../common/errors.js';

type Reply = { id: number; result?: unknown; error?: SerializedError };

function connect(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * A call that changes nothing, so it may be sent before the driver has answered the hello: if
 * that driver turns out to be hung and the command goes the long way, a copy of this call that
 * the driver runs later (when it wakes) does no harm. Such a call saves a round trip.
 */
export type ReadOnlyCall =
  { method: 'vm.list'; params: CallParams<'vm.list'> } | { method: 'vm.get'; params: CallParams<'vm.get'> };

export class ControlClient {
  private nextId = 1;
  /** The start of a line still arriving: a 200-VM list is ~230 KB, several reads. */
  private partial: Buffer[] = [];
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly listeners = new Set<(name: EventName, data: unknown) => void>();
  private closedError?: Error;
  /** The answer to the call sent with the hello (connect's `first`), until call() takes it. */
  private early?: { call: ReadOnlyCall; reply: Promise<unknown> };

  private constructor(
    private readonly sock: net.Socket,
    readonly socketPath: string,
  ) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closedError = new VmdeskError('internal', 'The vmdesk driver closed the connection.');
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
    });
  }

  /**
   * Connects and checks the driver answers within `helloTimeoutMs`: a hung (or SIGSTOPped)
   * driver still has its connections accepted by the kernel, and would otherwise leave every
   * command waiting forever. `first`, the command's first call when it changes nothing, goes
   * out right behind the hello, and call() with the same method and params gets its answer.
   */
  static async connect(socketPath: string, helloTimeoutMs = 3000, first?: ReadOnlyCall): Promise<ControlClient> {
    const client = new ControlClient(await connect(socketPath), socketPath);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const hello = client.request({ hello: true });
      if (first) {
        const reply = client.request({ method: first.method, params: first.params });
        // Nobody may ask for it (the command failed before its first call): not an unhandled rejection.
        reply.catch(() => undefined);
        client.early = { call: first, reply };
      }
      await Promise.race([
        hello,
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new VmdeskError(
                  'timeout',
                  `The vmdesk driver at ${socketPath} did not answer within ${helloTimeoutMs / 1000} s.`,
                ),
              ),
            helloTimeoutMs,
          );
        }),
      ]);
    } catch (err) {
      client.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  private onData(chunk: Buffer): void {
    // Lines are cut on the newline byte and decoded whole: a character split between two reads
    // stays one character, and a long line is decoded (and searched) once, not at every read.
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf(0x0a, start)) >= 0) {
      const tail = chunk.subarray(start, nl);
      const line = (this.partial.length === 0 ? tail : Buffer.concat([...this.partial, tail])).toString('utf8');
      this.partial = [];
      start = nl + 1;
      this.onLine(line);
    }
    if (start < chunk.length) this.partial.push(chunk.subarray(start));
  }

  private onLine(line: string): void {
    let msg: Reply & { event?: EventName; data?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (msg.event) {
      for (const l of this.listeners) l(msg.event, msg.data);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(VmdeskError.fromJSON(msg.error));
    else p.resolve(msg.result);
  }

  private request(body: Record<string, unknown>): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  call<C extends CallName>(method: C, params: CallParams<C>): Promise<CallResults[C]> {
    // The early answer is for the command's first call only: any later call asks anew (a vm.get
    // after a vm.start must not get the state from before it).
    const early = this.early;
    this.early = undefined;
    if (early && early.call.method === method && JSON.stringify(early.call.params) === JSON.stringify(params))
      return early.reply as Promise<CallResults[C]>;
    return this.request({ method, params }) as Promise<CallResults[C]>;
  }

  async subscribe(listener: <E extends EventName>(name: E, data: ContractEvents[E]) => void): Promise<() => void> {
    const l = listener as (name: EventName, data: unknown) => void;
    this.listeners.add(l);
    await this.request({ subscribe: true });
    return () => this.listeners.delete(l);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Opens a byte stream on its own connection; resolves with the raw socket once accepted,
 * paused: the caller attaches its listener, then calls resume(). */
export async function openControlStream<S extends StreamName>(
  socketPath: string,
  stream: S,
  params: StreamParams<S>,
): Promise<net.Socket> {
  const sock = await connect(socketPath);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      sock.off('data', onData);
      let reply: Reply;
      try {
        reply = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Reply;
      } catch {
        sock.destroy();
        reject(new VmdeskError('internal', 'The driver answered the stream request with something that is not JSON.'));
        return;
      }
      if (reply.error) {
        sock.destroy();
        reject(VmdeskError.fromJSON(reply.error));
        return;
      }
      const rest = buf.subarray(nl + 1);
      // Paused so no byte is lost before the caller attaches its 'data' listener and resumes.
      sock.pause();
      if (rest.length > 0) sock.unshift(rest);
      resolve(sock);
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.write(JSON.stringify({ id: 1, stream, params }) + '\n');
  });
}
