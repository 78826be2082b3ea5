/**
 * A scripted QEMU guest agent on a real unix socket, for what a real agent cannot do on demand:
 * stay silent and wake up later, leave stale bytes in the channel, split replies into pieces,
 * lack a command, send garbage or a huge reply, hang up. The happy path also runs against the
 * real `qemu-ga` (guest-agent.test.ts), and an agent inside a booted guest is covered by the e2e
 * guest-agent test.
 *
 * Like qemu-ga it reads requests as a stream: a 0xFF byte resets its parser (and, as qemu-ga 7.2
 * does, it answers that byte with a "stray" GenericError), `guest-sync-delimited` is answered
 * with 0xFF before the JSON, and requests are handled one after another in arrival order.
 */
import net from 'node:net';

export interface AgentRequest {
  execute: string;
  arguments?: Record<string, unknown>;
}

/** What the fake does with a request: a reply, raw bytes, nothing, or hanging up. */
export type FakeReply =
  { return: unknown } | { error: { class: string; desc: string } } | { raw: string | Buffer } | 'none' | 'hang-up';

const SENTINEL = 0xff;
const STRAY = Symbol('a 0xFF byte');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class FakeGuestAgent {
  /** Every request that reached the agent, in order (also those it slept through). */
  readonly received: AgentRequest[] = [];
  /** Answers by command; a command with no entry gets CommandNotFound, as from qemu-ga. */
  readonly replies = new Map<string, FakeReply | ((args: Record<string, unknown>) => FakeReply)>();
  /** Written before the sentinel of the next sync reply: what an earlier client left unread. */
  staleBeforeSentinel: string | Buffer | undefined;
  /** Write each reply in pieces of this many bytes, with a pause between pieces. */
  pieceBytes: number | undefined;
  /** Wait this long before handling each request or stray 0xFF (to spread replies in time). */
  delayMs = 0;
  /** The most requests ever waiting for an answer at once. */
  maxOutstanding = 0;
  connections = 0;
  #outstanding = 0;
  #asleep = false;
  /** Requests that arrived while asleep, handled on wake() (QEMU keeps them in the port). */
  #backlog: (AgentRequest | typeof STRAY)[] = [];
  #conn: net.Socket | undefined;
  #work: Promise<void> = Promise.resolve();
  readonly #waiters: { count: number; resolve: () => void }[] = [];

  private constructor(
    readonly path: string,
    readonly server: net.Server,
  ) {}

  static async start(socketPath: string): Promise<FakeGuestAgent> {
    const server = net.createServer();
    const fake = new FakeGuestAgent(socketPath, server);
    fake.replies.set('guest-sync-delimited', (args) => ({ return: args.id }));
    fake.replies.set('guest-ping', { return: {} });
    server.on('connection', (conn) => fake.#accept(conn));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    return fake;
  }

  /** An agent that is not running: requests pile up unanswered until wake(). */
  sleep(): void {
    this.#asleep = true;
  }

  /** The agent starts: it handles what piled up (answering on today's connection), then the rest. */
  wake(): void {
    this.#asleep = false;
    for (const req of this.#backlog.splice(0)) {
      if (req === STRAY) this.#stray();
      else this.#handle(req);
    }
  }

  /** Resolves once `count` requests in all have reached the agent. */
  waitForRequests(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Writes bytes to the connected client, as if the agent sent them. */
  write(bytes: string | Buffer): void {
    this.#conn?.write(bytes);
  }

  /** Closes the client's connection, as QEMU does when it exits. */
  hangUp(): void {
    this.#conn?.destroy();
    this.#conn = undefined;
  }

  async close(): Promise<void> {
    this.hangUp();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(conn: net.Socket): void {
    this.connections++;
    this.#conn?.destroy(); // QEMU serves one client; the new one is the one that matters
    this.#conn = conn;
    conn.on('error', () => {}); // the client may reset us; that is not what these tests check
    conn.on('close', () => {
      if (this.#conn === conn) this.#conn = undefined;
    });
    let pending = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const ff = pending.indexOf(SENTINEL);
        const nl = pending.indexOf(0x0a);
        if (ff >= 0 && (nl < 0 || ff < nl)) {
          pending = pending.subarray(ff + 1);
          if (this.#asleep) this.#backlog.push(STRAY);
          else this.#stray();
          continue;
        }
        if (nl < 0) break;
        const line = pending.subarray(0, nl).toString('utf8');
        pending = pending.subarray(nl + 1);
        if (line.trim() === '') continue;
        const req = JSON.parse(line) as AgentRequest;
        this.received.push(req);
        for (const w of this.#waiters.filter((x) => this.received.length >= x.count)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve();
        }
        if (this.#asleep) this.#backlog.push(req);
        else this.#handle(req);
      }
    });
  }

  #handle(req: AgentRequest): void {
    this.#outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.#outstanding);
    this.#work = this.#work.then(async () => {
      if (this.delayMs > 0) await sleep(this.delayMs);
      const entry = this.replies.get(req.execute);
      const reply: FakeReply =
        typeof entry === 'function'
          ? entry(req.arguments ?? {})
          : (entry ?? {
              error: { class: 'CommandNotFound', desc: `The command ${req.execute} has not been found` },
            });
      this.#outstanding--;
      if (reply === 'none') return;
      if (reply === 'hang-up') return this.hangUp();
      let bytes = 'raw' in reply ? Buffer.from(reply.raw) : Buffer.from(`${JSON.stringify(reply)}\n`);
      if (req.execute === 'guest-sync-delimited') {
        const stale = this.staleBeforeSentinel ?? '';
        this.staleBeforeSentinel = undefined;
        bytes = Buffer.concat([Buffer.from(stale), Buffer.from([SENTINEL]), bytes]);
      }
      await this.#send(bytes);
    });
  }

  /** qemu-ga 7.2 answers a 0xFF that resets its parser with this error. */
  #stray(): void {
    const reply = { error: { class: 'GenericError', desc: "JSON parse error, stray '\uFFFD'" } };
    this.#work = this.#work.then(async () => {
      if (this.delayMs > 0) await sleep(this.delayMs);
      await this.#send(Buffer.from(`${JSON.stringify(reply)}\n`));
    });
  }

  async #send(bytes: Buffer): Promise<void> {
    const step = this.pieceBytes ?? bytes.length;
    for (let i = 0; i < bytes.length; i += step) {
      this.#conn?.write(bytes.subarray(i, i + step));
      if (i + step < bytes.length) await sleep(2);
    }
  }
}
