/** A driver-side stream for transport tests: records the client's input, and the test pushes output and ends it. */
import { ByteChannel, type ByteStream, type OverflowPolicy } from '../byte-channel.js';

export interface FakeStreamOptions {
  /** Echo input back as output. */
  echo?: boolean;
  /** The output channel's budget (memory bytes) and policy; default 1 MiB, drop (as the serial console). */
  budgetBytes?: number;
  overflow?: OverflowPolicy;
  dropReason?: string;
}

export class FakeStream implements ByteStream {
  readonly output: ByteChannel;
  /** What the client sent (copies). */
  readonly written: Uint8Array[] = [];
  closed = 0;
  /** While true, input says the way toward QEMU is full (returns false); `drainInput()` ends it. */
  inputFull = false;
  private onDrain: (() => void) | undefined;
  constructor(
    readonly name: string,
    readonly params: unknown,
    private readonly opts: FakeStreamOptions = {},
  ) {
    this.output = new ByteChannel({
      budgetBytes: opts.budgetBytes ?? 1024 * 1024,
      overflow: opts.overflow ?? { kind: 'drop' },
      dropReason: opts.dropReason,
    });
  }
  input(data: Uint8Array): boolean {
    this.written.push(Uint8Array.from(data));
    if (this.opts.echo) this.output.push(Uint8Array.from(data));
    return !this.inputFull;
  }
  onInputDrain(listener: () => void): void {
    this.onDrain = listener;
  }
  /** QEMU took the input: tell the transport to go on. */
  drainInput(): void {
    this.inputFull = false;
    this.onDrain?.();
  }
  /** Payload bytes the client sent so far. */
  get writtenBytes(): number {
    return this.written.reduce((n, c) => n + c.byteLength, 0);
  }
  close(): void {
    this.closed++;
    this.output.dispose();
  }
  emit(chunk: Uint8Array): boolean {
    return this.output.push(chunk);
  }
  end(reason: string): void {
    this.output.end(reason);
  }
}
