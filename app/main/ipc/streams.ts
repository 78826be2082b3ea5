/**
 * Byte streams of the contract, independent of the transport that carries them (control socket,
 * WebSocket, Electron MessagePort). The streams themselves live in consoles/; each hands the
 * transport a ByteStream whose output channel buffers until the transport attaches its reader
 * and applies the stream's own overflow policy (serial: drop the slow viewer; VNC and log tail:
 * pause the source).
 */
import * as v from 'valibot';
import { isStreamName, STREAMS, type StreamName, type StreamParams } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { paramsShapeProblem } from '../common/request-limits.js';
import type { ByteStream } from '../consoles/byte-channel.js';
import { tailLog } from '../consoles/log-tail.js';
import { describeIssues } from '../vm/definition-store.js';
import type { VmManager } from '../vm/vm-manager.js';

/** Opens a stream; throws a VmdeskError when it cannot (unknown VM, not running, bad params). */
export type StreamOpener = (name: unknown, params: unknown) => ByteStream;

/** Validates a stream request like the dispatcher validates calls. */
export function parseStreamRequest(
  name: unknown,
  params: unknown,
): { name: StreamName; params: StreamParams<StreamName> } {
  if (!isStreamName(name))
    throw new VmdeskError('invalid-argument', `Unknown stream ${JSON.stringify(name)?.slice(0, 100)}.`);
  const shape = paramsShapeProblem(params);
  if (shape) throw new VmdeskError('invalid-argument', `Invalid arguments for ${name}: ${shape}`);
  const parsed = v.safeParse(STREAMS[name].params, params ?? {});
  if (!parsed.success)
    throw new VmdeskError('invalid-argument', `Invalid arguments for ${name}: ${describeIssues(parsed.issues)}.`);
  return { name, params: parsed.output };
}

export function managerStreams(m: Pick<VmManager, 'serialHub' | 'vncStream' | 'logPaths'>): StreamOpener {
  return (rawName, rawParams) => {
    const { name, params } = parseStreamRequest(rawName, rawParams);
    switch (name) {
      case 'console.serial':
        return m.serialHub(params.vm).open();
      case 'console.vnc':
        return m.vncStream(params.vm);
      case 'log.tail': {
        const p = params as StreamParams<'log.tail'>;
        return tailLog(m.logPaths(p.vm)[p.which], p.lines ?? 200);
      }
    }
  };
}
