/**
 * The main-process side of the window's bridge to the driver, free of Electron: one generic
 * call route and the stream pipe between a DriverLink channel and a MessagePort(Main).
 */
import { STREAM_CLOSE } from '../common/api.js';
import {
  isCallName,
  isStreamName,
  type CallName,
  type CallParams,
  type StreamName,
  type StreamParams,
} from '../common/contract.js';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import { ByteChannel, STREAM_BUDGET_BYTES, type ByteStream } from '../consoles/byte-channel.js';
import type { DriverLink } from '../ipc/driver-link.js';
import { truncateUtf8 } from '../ipc/web-sockets.js';
import { paramsShapeProblem } from '../common/request-limits.js';
import { PORT_FLOW, type CallReply, type PortDown, type PortUp, type StreamRequest } from './channels.js';

/**
 * Runs one contract call. Unknown methods are refused here (the preload refuses them too); the
 * link's dispatcher validates the params. Never throws: the reply carries the error.
 */
export async function routeCall(link: Pick<DriverLink, 'call'>, method: unknown, params: unknown): Promise<CallReply> {
  try {
    if (!isCallName(method))
      throw new VmdeskError('invalid-argument', `Unknown method ${String(JSON.stringify(method)).slice(0, 100)}.`);
    // Before the link serialises them for the owner process (a structured clone may be cyclic).
    const shape = paramsShapeProblem(params);
    if (shape) throw new VmdeskError('invalid-argument', `Invalid arguments for ${method}: ${shape}`);
    const result = await link.call(method, params as CallParams<CallName>);
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: serializeError(err) };
  }
}

/** The part of Electron's MessagePortMain the pipe uses. */
export interface PortLike {
  postMessage(message: PortDown): void;
  on(event: 'message', listener: (ev: { data: unknown }) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  start(): void;
  close(): void;
}

/** The WebSocket limit for a close reason, kept so every transport gives the page the same text. */
const REASON_MAX_BYTES = 123;

/**
 * A Uint8Array that owns exactly its bytes: structured clone copies a view's WHOLE buffer, and
 * socket chunks are often views into a larger pooled one.
 */
function ownBytes(c: Uint8Array): Uint8Array {
  return c.byteOffset === 0 && c.byteLength === c.buffer.byteLength ? c : c.slice();
}

function upMessage(data: unknown): PortUp | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as { t?: unknown; d?: unknown };
  if (m.t === 'close') return { t: 'close' };
  if (m.t === 'ack') {
    const { bytes, messages } = m as { bytes?: unknown; messages?: unknown };
    return Number.isSafeInteger(bytes) && Number.isSafeInteger(messages)
      ? { t: 'ack', bytes: bytes as number, messages: messages as number }
      : undefined;
  }
  if (m.t === 'data' && ArrayBuffer.isView(m.d))
    return { t: 'data', d: new Uint8Array(m.d.buffer, m.d.byteOffset, m.d.byteLength) };
  return undefined;
}

/**
 * Opens `req` on the link and pipes it over `port` (PortDown/PortUp messages). Bytes from the
 * page that arrive before the driver's channel is open are queued. The stream ends exactly once:
 * the driver ends it (close 1000 + its reason), drops a viewer that fell behind (4500 + the
 * reason), it cannot be opened (4400 for what the user can fix, 4500 otherwise), or the page
 * closes it (a `close` message or the port closing).
 *
 * Output is flow-controlled by the page's acks (PORT_FLOW): a page that stops reading makes the
 * stream's own channel hold, within its budget, instead of the main process posting without end.
 * Input the other way: this side acks what the stream has taken, and not while the stream says
 * QEMU takes no more (a paused guest), so the preload holds the page's input, not this process.
 */
export function pipeStream(
  link: Pick<DriverLink, 'openStream'>,
  req: StreamRequest,
  port: PortLike,
  log: (line: string) => void = () => {},
): void {
  let stream: ByteStream | undefined;
  let done = false;
  /** Posted and not yet acknowledged, as memory (see PORT_FLOW). */
  let unacked = 0;
  let full = false;
  /** The page's input received since the last ack to the page. */
  let inBytes = 0;
  let inMessages = 0;
  const post = (m: PortDown) => {
    try {
      port.postMessage(m);
    } catch {
      /* the page is gone: its port's close ends the stream */
    }
  };
  const finish = (down?: { code: number; reason: string }) => {
    if (done) return;
    done = true;
    if (down) post({ t: 'close', code: down.code, reason: truncateUtf8(down.reason, REASON_MAX_BYTES) });
    input.dispose();
    try {
      stream?.close();
    } catch (err) {
      log(`stream close failed: ${serializeError(err).message.slice(0, 500)}`);
    }
    port.close();
  };
  // A MessagePort cannot be paused: the page holds its input by our acks, and a page that
  // sends beyond them (more than the budget while the stream does not take it) is ended.
  const input = new ByteChannel({
    budgetBytes: STREAM_BUDGET_BYTES,
    overflow: { kind: 'drop' },
    dropReason: 'The page sent more than the stream could take.',
  });
  /** Acks the page's input once the stream took all of it (and it is worth a message). */
  const ackInput = () => {
    if (done || input.queuedBytes > 0 || input.isReaderBlocked) return;
    if (inBytes < PORT_FLOW.ackBytes && inMessages < PORT_FLOW.ackMessages) return;
    post({ t: 'ack', bytes: inBytes, messages: inMessages });
    inBytes = 0;
    inMessages = 0;
  };
  port.on('message', (ev) => {
    const m = upMessage(ev.data);
    if (done || !m) return;
    if (m.t === 'close') return finish();
    if (m.t === 'ack') {
      unacked = Math.max(0, unacked - m.bytes - m.messages * PORT_FLOW.messageOverheadBytes);
      if (full && unacked <= PORT_FLOW.windowBytes / 2) {
        full = false;
        stream?.output.resume();
      }
      return;
    }
    inBytes += m.d.byteLength;
    inMessages++;
    input.push(m.d);
    ackInput();
  });
  port.on('close', () => finish());
  port.start();

  Promise.resolve()
    .then(() => {
      if (!isStreamName(req.name))
        throw new VmdeskError('invalid-argument', `Unknown stream ${String(JSON.stringify(req.name)).slice(0, 100)}.`);
      const shape = paramsShapeProblem(req.params);
      if (shape) throw new VmdeskError('invalid-argument', `Invalid stream parameters: ${shape}`);
      // The link validates the params (parseStreamRequest, here or in the owner process).
      return link.openStream(req.name, req.params as StreamParams<StreamName>);
    })
    .then(
      (s) => {
        if (done) return s.close();
        stream = s;
        post({ t: 'open' });
        s.onInputDrain?.(() => {
          input.resume();
          ackInput();
        });
        input.attach({
          write: (d) => s.input(d) !== false,
          end: (reason, how) => {
            if (how === 'dropped') finish({ code: STREAM_CLOSE.failed, reason });
          },
        });
        ackInput();
        s.output.attach({
          write: (chunk) => {
            if (done) return true;
            post({ t: 'data', d: ownBytes(chunk) });
            unacked += chunk.byteLength + PORT_FLOW.messageOverheadBytes;
            if (unacked >= PORT_FLOW.windowBytes) full = true;
            return !full;
          },
          end: (reason, how) => finish({ code: how === 'dropped' ? STREAM_CLOSE.failed : STREAM_CLOSE.ended, reason }),
        });
      },
      (err: unknown) => {
        const e = serializeError(err);
        log(`stream refused: ${e.code} ${e.message.slice(0, 500)}`);
        finish({ code: isUserError(e.code) ? STREAM_CLOSE.refused : STREAM_CLOSE.failed, reason: e.message });
      },
    )
    .catch((err: unknown) => finish({ code: STREAM_CLOSE.failed, reason: serializeError(err).message }));
}
