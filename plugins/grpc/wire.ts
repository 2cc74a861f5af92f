import { Metadata as GrpcMetadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { RpcError } from '../../lib/errors';
import { type Message, MessageKind, type Metadata, TRANSPORT_ERROR_ID } from '../../lib/transport/transport';

/**
 * How `--transport=grpc` carries a Phobos frame in one gRPC unary call to `/phobos.Transport/Call` (docs/protocol.md,
 * "The grpc transport"). The body is the gRPC message, bytes as they are; the header fields travel as gRPC metadata:
 *
 *   request headers   phobos-codec: <codec id, decimal>      phobos-service / phobos-endpoint: <percent-encoded UTF-8>
 *                     phobos-metadata-bin: <UTF-8 JSON object of strings>   (absent when there is none)
 *                     grpc-timeout: the call's deadline (gRPC's own header, from Message.timeout)
 *   response headers  phobos-codec, phobos-metadata-bin, and phobos-error: 1 when the body is an error record
 *
 * Error replies of handlers are ordinary responses (status OK, phobos-error: 1); a non-OK gRPC status always means the
 * call itself failed (unreachable, deadline, cancelled, refused) and becomes a transport RpcError.
 */

export const CALL_PATH = '/phobos.Transport/Call';

const CODEC = 'phobos-codec';
const SERVICE = 'phobos-service';
const ENDPOINT = 'phobos-endpoint';
const METADATA = 'phobos-metadata-bin';
const ERROR = 'phobos-error';

export const passThrough = (b: Buffer): Buffer => b;

export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function putMetadata(md: GrpcMetadata, metadata: Metadata | undefined): void {
  if (!metadata) return;
  for (const _ in metadata) {
    md.set(METADATA, Buffer.from(JSON.stringify(metadata), 'utf8'));
    return;
  }
}

function readMetadata(md: GrpcMetadata): Metadata | undefined {
  const bin = md.get(METADATA)[0];
  if (bin === undefined) return undefined;
  const parsed: unknown = JSON.parse(Buffer.isBuffer(bin) ? bin.toString('utf8') : bin);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${METADATA} is not a JSON object`);
  const out: Metadata = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new Error(`${METADATA}: the value of "${k}" is not a string`);
    out[k] = v;
  }
  return out;
}

function text(md: GrpcMetadata, key: string): string {
  const v = md.get(key)[0];
  if (typeof v !== 'string') throw new Error(`missing ${key}`);
  return v;
}

function codecOf(md: GrpcMetadata): number {
  const n = Number(text(md, CODEC));
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`${CODEC} is not a codec id`);
  return n;
}

export function requestHeaders(m: Message): GrpcMetadata {
  const md = new GrpcMetadata();
  md.set(CODEC, String(m.codec));
  md.set(SERVICE, encodeURIComponent(m.service));
  md.set(ENDPOINT, encodeURIComponent(m.endpoint));
  putMetadata(md, m.metadata);
  return md;
}

/** The request frame a call carries; throws an Error saying which header is wrong. */
export function readRequest(md: GrpcMetadata, body: Buffer, id: number, timeout: number): Message {
  return {
    kind: MessageKind.request,
    id,
    codec: codecOf(md),
    service: decodeURIComponent(text(md, SERVICE)),
    endpoint: decodeURIComponent(text(md, ENDPOINT)),
    timeout,
    metadata: readMetadata(md),
    error: false,
    body,
  };
}

export function responseHeaders(m: Message): GrpcMetadata {
  const md = new GrpcMetadata();
  md.set(CODEC, String(m.codec));
  if (m.error) md.set(ERROR, '1');
  putMetadata(md, m.metadata);
  return md;
}

export function readResponse(md: GrpcMetadata, body: Buffer, id: number): Message {
  return {
    kind: MessageKind.response,
    id,
    codec: codecOf(md),
    service: '',
    endpoint: '',
    timeout: 0,
    metadata: readMetadata(md),
    error: md.get(ERROR)[0] === '1',
    body,
  };
}

/** A failed gRPC call as the transport RpcError a Phobos caller expects (503 and 502 are retryable). */
export function callError(err: ServiceError, address: string): RpcError {
  const why = err.details || err.message;
  switch (err.code) {
    case Status.DEADLINE_EXCEEDED:
      return new RpcError(TRANSPORT_ERROR_ID, 408, `no reply from ${address} before the deadline`);
    case Status.CANCELLED:
      return new RpcError(TRANSPORT_ERROR_ID, 499, 'request cancelled');
    case Status.UNAVAILABLE:
      return new RpcError(TRANSPORT_ERROR_ID, 503, `${address} unavailable: ${why}`);
    case Status.RESOURCE_EXHAUSTED:
      return new RpcError(TRANSPORT_ERROR_ID, 413, `refused as too large: ${why}`);
    case Status.INVALID_ARGUMENT:
      return new RpcError(TRANSPORT_ERROR_ID, 400, why);
    default:
      // UNIMPLEMENTED (not a Phobos grpc listener), INTERNAL (a broken frame): the peer, not the request, is at fault.
      return new RpcError(TRANSPORT_ERROR_ID, 502, `${address}: gRPC status ${err.code}: ${why}`);
  }
}
