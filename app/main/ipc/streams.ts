/**
 * Byte streams of the contract, independent of the transport that carries them.
 */
import * as v from 'valibot';
import { isStreamName, STREAMS } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { describeIssues } from '../vm/definition-store.js';
import type { VmManager } from '../vm/vm-manager.js';

/** The transport's side of a stream. */
export interface StreamSink {
  /** Bytes for the client; returns how many bytes are still queued (backpressure signal). */
  write(chunk: Uint8Array): number;
  /** The stream ended on the driver's side, with a sentence for the user. */
  end(reason: string): void;
}

/** The driver's side of a stream, given to the transport. */
export interface StreamHandle {
  /** Bytes from the client (keystrokes). */
  input(data: Uint8Array): void;
  close(): void;
}

export type StreamOpener = (name: unknown, params: unknown, sink: StreamSink) => StreamHandle;

export function managerStreams(m: VmManager): StreamOpener {
  return (name, params, sink) => {
    if (!isStreamName(name)) throw new VmdeskError('invalid-argument', `Unknown stream ${JSON.stringify(name)?.slice(0, 100)}.`);
    const parsed = v.safeParse(STREAMS[name].params, params ?? {});
    if (!parsed.success) throw new VmdeskError('invalid-argument', `Invalid arguments for ${name}: ${describeIssues(parsed.issues)}.`);
    const hub = m.serialHub(parsed.output.vm);
    const viewer = { write: (c: Uint8Array) => sink.write(c), close: (reason: string) => sink.end(reason) };
    const att = hub.attach(viewer);
    return { input: (d) => att.input(d), close: () => att.detach() };
  };
}
