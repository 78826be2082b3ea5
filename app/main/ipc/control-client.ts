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

export class ControlClient {
  private nextId = 1;
  private buf = '';
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly listeners = new Set<(name: EventName, data: unknown) => void>();
  private closedError?: Error;

  private constructor(
    private readonly sock: net.Socket,
    readonly socketPath: string,
  ) {
    // Decode across chunk boundaries: a character split between two reads stays one character.
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
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
   * command waiting forever.
   */
  static async connect(socketPath: string, helloTimeoutMs = 3000): Promise<ControlClient> {
    const client = new ControlClient(await connect(socketPath), socketPath);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        client.request({ hello: true }),
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

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      let msg: Reply & { event?: EventName; data?: unknown };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        continue;
      }
      if (msg.event) {
        for (const l of this.listeners) l(msg.event, msg.data);
        continue;
      }
      const p = this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(VmdeskError.fromJSON(msg.error));
      else p.resolve(msg.result);
    }
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
