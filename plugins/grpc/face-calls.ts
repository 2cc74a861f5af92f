import type { handleServerStreamingCall, handleUnaryCall, Metadata as GrpcMetadata, ServerWritableStream } from '@grpc/grpc-js';
import { errors, RpcError } from '../../lib/errors';
import type { PhobosService } from '../../lib/service';
import { isAsyncIterable, StreamTable } from '../../lib/transport/stream-channel';
import { type Message, MessageKind, type PeerInfo } from '../../lib/transport/transport';
import type { ProtobufCodec } from '../protobuf/codec';
import { phobosMetadata, remaining, serviceError } from './status';

/**
 * The gRPC face's handlers, one per rpc, built once when the face starts. A local rpc goes into the service's own
 * Server exactly as a transport's request frame would (`server.handle`): the protobuf bytes stay bytes until the
 * server decodes them, and the deadline, the caller's cancel, validation, wrappers, bulkheads and drain all behave as
 * for any other caller. An rpc of a service this process does not serve is forwarded through `service.client`.
 */

export interface FaceContext {
  readonly phobos: PhobosService;
  readonly codec: ProtobufCodec;
  /** For gRPC calls that come without a deadline (ms). */
  readonly defaultTimeout: number;
  nextId(): number;
}

export interface Target {
  service: string;
  endpoint: string;
}

type Bytes = Buffer;
const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** The call's time left: the gRPC deadline, or the face's default when the caller gave none. */
function timeoutOf(face: FaceContext, deadline: Date | number): number {
  const left = remaining(deadline);
  return Number.isFinite(left) ? Math.max(1, Math.floor(left)) : face.defaultTimeout;
}

function requestFrame(face: FaceContext, target: Target, id: number, body: Bytes, metadata: GrpcMetadata, timeout: number): Message {
  return {
    kind: MessageKind.request,
    id,
    codec: face.codec.id,
    service: target.service,
    endpoint: target.endpoint,
    timeout,
    metadata: phobosMetadata(metadata),
    error: false,
    body,
  };
}

/** The RpcError an error frame carries (its body is in the codec it names: JSON for protobuf callers). */
function errorOf(face: FaceContext, frame: Message): RpcError {
  try {
    return RpcError.from(face.phobos.codecs.get(frame.codec)!.decode(frame.body) as RpcError);
  } catch (err) {
    return errors.internal('phobos.grpc', `unreadable error reply: ${(err as Error).message}`);
  }
}

export function localUnary(face: FaceContext, target: Target): handleUnaryCall<Bytes, Bytes> {
  return (call, callback) => {
    let cancel: (() => void) | undefined;
    const peer: PeerInfo = { remote: call.getPeer(), onCancel: (_id, cb) => (cancel = cb), clearCancel: () => (cancel = undefined) };
    // At the deadline grpc-js cancels the call too; the handler's own deadline timer then says why (a TimeoutError).
    call.on('cancelled', () => {
      if (remaining(call.getDeadline()) > 0) cancel?.();
    });
    const id = face.nextId();
    const msg = requestFrame(face, target, id, call.request, call.metadata, timeoutOf(face, call.getDeadline()));
    face.phobos.server.handle(
      msg,
      (res) => {
        if (res.error) callback(serviceError(errorOf(face, res)));
        else callback(null, asBuffer(res.body));
      },
      peer,
    );
  };
}

/**
 * A server-streaming rpc into a Phobos server-streaming endpoint. The server's StreamCall writes frames into a
 * StreamTable whose frames become gRPC writes; credit goes back to it one message at a time as the gRPC stream takes
 * them without buffering past its high-water mark, so a slow gRPC reader pauses the handler's generator.
 */
export function localServerStream(face: FaceContext, target: Target): handleServerStreamingCall<Bytes, Bytes> {
  return (call) => {
    const id = face.nextId();
    let owed = 0;
    /** Messages written past the gRPC stream's high-water mark: their credit comes back on 'drain'. */
    let blocked = 0;
    const onDrain = () => {
      const n = blocked;
      blocked = 0;
      credit(n);
    };
    const table: StreamTable = new StreamTable((frame) => {
      switch (frame.kind) {
        case MessageKind.data:
          if (call.write(asBuffer(frame.body))) credit(1);
          else if (blocked++ === 0) call.once('drain', onDrain);
          return;
        case MessageKind.end:
        case MessageKind.response:
          if (frame.error) call.emit('error', serviceError(errorOf(face, frame)));
          else if (!frame.stream) call.end();
          return;
        default:
          return;
      }
    });
    // Credit is handed back on a later microtask, batched, never from inside the channel's own send().
    const credit = (n: number) => {
      if (owed === 0) queueMicrotask(() => {
        const m: Message = { kind: MessageKind.credit, id, codec: 0, service: '', endpoint: '', timeout: owed, metadata: undefined, error: false, body: EMPTY };
        owed = 0;
        table.receive(m);
      });
      owed += n;
    };
    const peer: PeerInfo = {
      remote: call.getPeer(),
      onCancel: () => undefined,
      clearCancel: () => undefined,
      openStream: (streamId) => table.open(streamId, 'server'),
    };
    call.on('cancelled', () => table.cancelled(id, remaining(call.getDeadline()) > 0 ? 0 : 408));
    const msg = requestFrame(face, target, id, call.request, call.metadata, timeoutOf(face, call.getDeadline()));
    face.phobos.server.handle(
      msg,
      (res) => {
        // A plain answer instead of a stream: the request failed before the stream opened (404, 400, 503...).
        if (res.error) call.emit('error', serviceError(errorOf(face, res)));
        else call.end();
      },
      peer,
    );
  };
}

const EMPTY = new Uint8Array(0);

function decodeRequest(face: FaceContext, target: Target, body: Bytes): unknown {
  try {
    return face.codec.decode(body, target.service, target.endpoint, 'request');
  } catch (err) {
    throw err instanceof RpcError ? err : errors.badRequest('phobos.grpc', `malformed protobuf body: ${(err as Error).message}`);
  }
}

function asRpcError(err: unknown): RpcError {
  return err instanceof RpcError ? err : errors.internal('phobos.grpc', (err as Error)?.message ?? String(err));
}

/** A unary rpc of a service this process does not serve: decoded here, called through the client, re-encoded. */
export function forwardedUnary(face: FaceContext, target: Target): handleUnaryCall<Bytes, Bytes> {
  return (call, callback) => {
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort());
    const options = { metadata: phobosMetadata(call.metadata), timeout: timeoutOf(face, call.getDeadline()), signal: ac.signal };
    Promise.resolve()
      .then(() => face.phobos.client.call(target.service, target.endpoint, decodeRequest(face, target, call.request), options))
      .then((value) => asBuffer(face.codec.encode(value, target.service, target.endpoint, 'response')))
      .then(
        (body) => callback(null, body),
        (err) => callback(serviceError(asRpcError(err))),
      );
  };
}

/** A server-streaming rpc forwarded through the client: each reply re-encoded and written as the gRPC reader takes it. */
export function forwardedServerStream(face: FaceContext, target: Target): handleServerStreamingCall<Bytes, Bytes> {
  return (call) => {
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort());
    const options = { metadata: phobosMetadata(call.metadata), timeout: timeoutOf(face, call.getDeadline()), signal: ac.signal };
    void pipeForwarded(face, target, call, options, ac.signal);
  };
}

async function pipeForwarded(
  face: FaceContext,
  target: Target,
  call: ServerWritableStream<Bytes, Bytes>,
  options: { metadata: Record<string, string> | undefined; timeout: number; signal: AbortSignal },
  signal: AbortSignal,
): Promise<void> {
  try {
    const replies = await face.phobos.client.call(target.service, target.endpoint, decodeRequest(face, target, call.request), options);
    if (!isAsyncIterable(replies)) throw errors.internal('phobos.grpc', `${target.service}.${target.endpoint} answered one value, not a stream`);
    for await (const value of replies) {
      if (signal.aborted) return;
      if (!call.write(asBuffer(face.codec.encode(value, target.service, target.endpoint, 'response')))) await drained(call, signal);
    }
    if (!signal.aborted) call.end();
  } catch (err) {
    if (!signal.aborted) call.emit('error', serviceError(asRpcError(err)));
  }
}

/** Resolves when the stream drains or the call is cancelled, whichever comes first. */
function drained(call: ServerWritableStream<Bytes, Bytes>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
