import { status as Status, type StatusObject } from '@grpc/grpc-js';
import { RpcError } from '../../lib/errors';
import { encodeFrame, FrameError, type EncodeLimits } from '../../lib/transport/tcp/frame';
import { type Message, MessageKind, TRANSPORT_ERROR_ID } from '../../lib/transport/transport';

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
/** Bytes queued here past which the owner should stop producing. */
const QUEUE_HIGH_WATER = 1024 * 1024;
const EMPTY = new Uint8Array(0);

/** What a FrameSender writes to: either end of a grpc-js duplex call. */
export interface MessageSink {
  write(message: Buffer): boolean;
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/**
 * Frames written in one tick are queued and handed to the call together on the next tick (`process.nextTick`), as
 * one message when they fit in JOIN_MAX (and the peer's maximum message size). While the call reports back-pressure
 * the queue is held until 'drain'; `congested` tells the owner to stop producing.
 */
export class FrameSender {
  blocked = false;
  private chunks: Uint8Array[] = [];
  private size = 0;
  private scheduled = false;
  private closed = false;
  private readonly limits: EncodeLimits;
  private readonly joinMax: number;

  constructor(
    private readonly sink: MessageSink,
    maxFrameSize: number,
    private readonly onDrain: () => void = () => undefined,
  ) {
    // Never gzipped: loopback and LAN peers gain little, and gRPC could compress the messages itself.
    this.limits = { maxFrameSize, compressThreshold: Infinity };
    this.joinMax = Math.min(JOIN_MAX, maxFrameSize);
    sink.on('drain', this.drained);
  }

  get congested(): boolean {
    return this.blocked || this.size > QUEUE_HIGH_WATER;
  }

  /** Queues `m` as frame `id`. Throws FrameError (nothing queued) when it cannot be encoded within the limits. */
  write(m: Message, id: number): void {
    if (this.closed) return;
    this.size += encodeFrame(m, id, this.limits, this.chunks);
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true;
      process.nextTick(flushTick, this);
    }
  }

  /** A frame with no body: cancel (with its reason in `timeout`), ping, pong. */
  control(kind: MessageKind, id: number, timeout = 0): void {
    this.write({ kind, id, codec: 0, service: '', endpoint: '', timeout, metadata: undefined, error: false, body: EMPTY }, id);
  }

  /** Hands what is queued to the call; held while back-pressured unless `force` (the call is ending). */
  flush(force = false): void {
    this.scheduled = false;
    if ((this.blocked && !force) || this.closed || this.chunks.length === 0) return;
    const chunks = this.chunks;
    this.chunks = [];
    this.size = 0;
    let ok = true;
    let group: Uint8Array[] = [];
    let groupSize = 0;
    const send = () => {
      if (group.length === 0) return;
      ok = this.sink.write(group.length === 1 ? asBuffer(group[0]) : Buffer.concat(group, groupSize)) && ok;
      group = [];
      groupSize = 0;
    };
    for (const c of chunks) {
      if (groupSize + c.length > this.joinMax) send();
      group.push(c);
      groupSize += c.length;
    }
    send();
    if (!ok) this.blocked = true;
  }

  /** Drops whatever is queued; later writes are ignored. */
  close(): void {
    this.closed = true;
    this.chunks = [];
    this.size = 0;
    this.sink.off('drain', this.drained);
  }

  private readonly drained = (): void => {
    if (!this.blocked) return;
    this.blocked = false;
    this.flush();
    if (!this.blocked) this.onDrain();
  };
}

function flushTick(s: FrameSender): void {
  s.flush();
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
