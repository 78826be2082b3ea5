/**
 * One operation per VM at a time, after libvirt's job lock (src/qemu/qemu_domainjob.c): a second
 * caller waits for the running job up to a bound and then runs, or is refused with a message
 * naming the job that holds the VM. A force off does not queue behind a long job: it cancels the
 * running job (its AbortSignal) and every queued one, then waits for the running one to roll back.
 */
import { VmdeskError } from '../common/errors.js';

export interface Job {
  readonly op: string;
  readonly signal: AbortSignal;
}

interface Held {
  op: string;
  abort: AbortController;
  done: Promise<void>;
}

export class JobLock {
  #held: Held | undefined;
  /** Jobs waiting, in arrival order (each waits for the one before it). */
  #tail: Promise<void> = Promise.resolve();
  /** Bumped by cancelAll: a job queued under an older epoch is cancelled when its turn comes. */
  #epoch = 0;
  #cancelReason = '';

  constructor(
    private readonly vmName: () => string,
    /** How long a second caller waits for the job in front of it. */
    private readonly waitMs: number,
  ) {}

  /** The running job's name, if any (for summaries and refusals). */
  get current(): string | undefined {
    return this.#held?.op;
  }

  /** Cancels the running job (it still has to roll back) and every job queued behind it. */
  cancelAll(reason: string): void {
    this.#epoch++;
    this.#cancelReason = reason;
    this.#held?.abort.abort(new VmdeskError('cancelled', reason));
  }

  /**
   * Runs `fn` once every job queued before it is done, waiting at most `waitMs` for them.
   * MUST NOT be called from inside a job of the same lock (it would wait for itself).
   */
  async run<T>(op: string, fn: (job: Job) => Promise<T> | T): Promise<T> {
    const epoch = this.#epoch;
    const before = this.#tail;
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    this.#tail = before.then(() => mine);
    const waited = await waitAtMost(before, this.waitMs);
    if (!waited) {
      // Leave the queue without holding anyone up: our turn is passed on when it comes.
      void before.then(release);
      const holder = this.#held?.op ?? 'another operation';
      throw new VmdeskError(
        'timeout',
        `"${this.vmName()}" is busy (${holder}) and did not become free within ${Math.round(this.waitMs / 1000)} s. Wait for it, or force the VM off.`,
        { busy: holder },
      );
    }
    if (epoch !== this.#epoch) {
      release();
      throw new VmdeskError('cancelled', `${op} of "${this.vmName()}" was cancelled: ${this.#cancelReason}`);
    }
    const abort = new AbortController();
    this.#held = { op, abort, done: mine };
    try {
      return await fn({ op, signal: abort.signal });
    } finally {
      this.#held = undefined;
      release();
    }
  }
}

function waitAtMost(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
