import { status as Status, type StatusObject } from '@grpc/grpc-js';
import { RpcError } from '../../lib/errors';
import { FrameError, type EncodeLimits } from '../../lib/transport/tcp/frame';
import type { FrameSink } from '../../lib/transport/tcp/writer';
import { TRANSPORT_ERROR_ID } from '../../lib/transport/transport';

/**
 * How `--transport=grpc` carries Phobos frames (docs/protocol.md §15, "The grpc transport"): one long-lived
 * bidi-streaming gRPC call, `/phobos.Transport/Frames`, per connection. Each direction's messages, concatenated, are
 * a stream of frames in the tcp layout (sections 2–5: kind, flags, codec, request id, timeout, service, endpoint,
 * metadata, body), so requests, responses and cancels are multiplexed by request id exactly as over tcp. Every frame
 * written in one event-loop tick goes out as one gRPC message: a call costs a few bytes on an open HTTP/2 stream,
 * not a new stream with its own headers and trailers.
 */

export const CALL_PATH = '/phobos.Transport/Frames';

export const passThrough = (b: Buffer): Buffer => b;

/** The method as grpc-js wants it for both addService and makeBidiStreamRequest: bytes in, bytes out. */
export const FRAMES_METHOD = {
  path: CALL_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: passThrough,
  requestDeserialize: passThrough,
  responseSerialize: passThrough,
  responseDeserialize: passThrough,
} as const;

/** Messages joined from several frames stay under this size; a larger frame travels in messages of its own. */
const JOIN_MAX = 64 * 1024;

/** Either end of a grpc-js duplex call, as a FrameWriter sees it. */
export interface MessageStream {
  write(message: Buffer): boolean;
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/**
 * A frames call as the sink of a FrameWriter (lib/transport/tcp/writer.ts): the frames written in one tick go out as
 * one message when they fit in JOIN_MAX (and the peer's maximum message size), else in as few messages as fit.
 * Message boundaries need not fall between frames: the reader concatenates messages (docs/protocol.md §15).
 */
export function messageSink(call: MessageStream, maxFrameSize: number): FrameSink {
  const joinMax = Math.min(JOIN_MAX, maxFrameSize);
  return {
    writeBatch(chunks) {
      let ok = true;
      let group: Uint8Array[] = [];
      let groupSize = 0;
      const send = () => {
        if (group.length === 0) return;
        ok = call.write(group.length === 1 ? asBuffer(group[0]) : Buffer.concat(group, groupSize)) && ok;
        group = [];
        groupSize = 0;
      };
      for (const c of chunks) {
        if (groupSize + c.length > joinMax) send();
        group.push(c);
        groupSize += c.length;
      }
      send();
      return ok;
    },
    onDrain(listener) {
      call.on('drain', listener);
      return () => call.off('drain', listener);
    },
  };
}

/**
 * What frames sent over grpc are encoded with: never gzipped (loopback and LAN peers gain little, and gRPC could
 * compress the messages itself).
 */
export function frameLimits(maxFrameSize: number): EncodeLimits {
  return { maxFrameSize, compressThreshold: Infinity };
}

export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A request the sender refuses (too large, names too long) as the RpcError its caller gets. */
export function refusal(err: unknown): RpcError {
  if (err instanceof FrameError) return new RpcError(TRANSPORT_ERROR_ID, err.code || 400, err.message);
  return new RpcError(TRANSPORT_ERROR_ID, 500, `cannot send the request: ${(err as Error).message}`);
}

/**
 * What the requests still pending fail with when the frames call ends: 502 when the peer is not a Phobos grpc
 * listener or called our frames broken (UNIMPLEMENTED, INVALID_ARGUMENT, INTERNAL, UNKNOWN), else 503 (the connection
 * or the server went away). Both are retryable on another node.
 */
export function streamEndError(s: Pick<StatusObject, 'code' | 'details'>, address: string): RpcError {
  const why = s.details || `gRPC status ${s.code}`;
  switch (s.code) {
    case Status.UNIMPLEMENTED:
      return new RpcError(TRANSPORT_ERROR_ID, 502, `${address} is not a Phobos grpc listener: ${why}`);
    case Status.INVALID_ARGUMENT:
    case Status.INTERNAL:
    case Status.UNKNOWN:
      return new RpcError(TRANSPORT_ERROR_ID, 502, `${address}: gRPC status ${s.code}: ${why}`);
    case Status.OK:
      return new RpcError(TRANSPORT_ERROR_ID, 503, `${address} closed the connection`);
    default:
      return new RpcError(TRANSPORT_ERROR_ID, 503, `connection to ${address} lost: ${why}`);
  }
}
