import { RpcError } from '../errors';
import { StreamTable } from './stream-channel';
import { type Message, MessageKind, TRANSPORT_ERROR_ID } from './transport';

/**
 * Streams over the memory transport: the same StreamChannel as tcp (same window, same frames, same order), with
 * frames copied and handed to the other end on a later microtask instead of written to a socket.
 */

/** True for the kinds only streams use: data, end and credit. */
export function isStreamFrame(kind: number): boolean {
  return kind === MessageKind.data || kind === MessageKind.end || kind === MessageKind.credit;
}

/**
 * A stream table whose frames go to `peer` (on a later microtask, as copies). A data body larger than `maxFrameSize`
 * is refused with 413 like an oversized tcp frame.
 */
export function memoryStreams(maxFrameSize: number, peer: (m: Message) => void, onRelease?: (id: number) => void): StreamTable {
  return new StreamTable((m) => {
    if (m.body.length > maxFrameSize) {
      throw new RpcError(TRANSPORT_ERROR_ID, 413, `stream message of ${m.body.length} bytes exceeds the maximum of ${maxFrameSize}`);
    }
    const c = copyMessage(m);
    queueMicrotask(() => peer(c));
  }, onRelease);
}

/** A copy that shares nothing mutable with the original: what a trip through bytes would give. */
export function copyMessage(m: Message): Message {
  return {
    ...m,
    metadata: m.metadata === undefined ? undefined : { ...m.metadata },
    body: Uint8Array.prototype.slice.call(m.body),
  };
}
