import { Metadata as GrpcMetadata, status as Status, type ServerErrorResponse, type StatusObject } from '@grpc/grpc-js';
import { RpcError, type ErrorRecord } from '../../lib/errors';
import { SERVER_ERROR_ID } from '../../lib/server/server';
import type { Metadata } from '../../lib/transport/transport';

/**
 * Phobos errors as gRPC statuses and back, and gRPC metadata as Phobos metadata. The status carries the detail as
 * its message; the trailers carry the Phobos error itself (`phobos-error-code`, `phobos-error-id`, and the whole
 * record, issues included, as JSON in `phobos-error-bin`), so a client that knows Phobos loses nothing.
 */

const TO_GRPC: Record<number, Status> = {
  400: Status.INVALID_ARGUMENT,
  401: Status.UNAUTHENTICATED,
  403: Status.PERMISSION_DENIED,
  404: Status.NOT_FOUND,
  408: Status.DEADLINE_EXCEEDED,
  409: Status.ALREADY_EXISTS,
  412: Status.FAILED_PRECONDITION,
  413: Status.RESOURCE_EXHAUSTED,
  429: Status.RESOURCE_EXHAUSTED,
  499: Status.CANCELLED,
  500: Status.INTERNAL,
  501: Status.UNIMPLEMENTED,
  502: Status.UNAVAILABLE,
  503: Status.UNAVAILABLE,
  504: Status.DEADLINE_EXCEEDED,
};

/** The gRPC status for a Phobos error; an endpoint the server does not have is UNIMPLEMENTED, as gRPC has it. */
export function grpcStatusOf(err: RpcError): Status {
  if (err.code === 404 && err.id === SERVER_ERROR_ID) return Status.UNIMPLEMENTED;
  return TO_GRPC[err.code] ?? Status.UNKNOWN;
}

/** What a gRPC handler passes to its callback (or emits on a stream) for a Phobos error. */
export function serviceError(err: RpcError): ServerErrorResponse {
  const trailers = new GrpcMetadata();
  trailers.set('phobos-error-code', String(err.code));
  trailers.set('phobos-error-id', asciiHeader(err.id));
  trailers.set('phobos-error-bin', Buffer.from(JSON.stringify(err.toJSON()), 'utf8'));
  return Object.assign(new Error(err.detail), { code: grpcStatusOf(err), details: err.detail, metadata: trailers });
}

const FROM_GRPC: Partial<Record<Status, number>> = {
  [Status.INVALID_ARGUMENT]: 400,
  [Status.UNAUTHENTICATED]: 401,
  [Status.PERMISSION_DENIED]: 403,
  [Status.NOT_FOUND]: 404,
  [Status.DEADLINE_EXCEEDED]: 408,
  [Status.ALREADY_EXISTS]: 409,
  [Status.FAILED_PRECONDITION]: 412,
  [Status.RESOURCE_EXHAUSTED]: 429,
  [Status.CANCELLED]: 499,
  [Status.INTERNAL]: 500,
  [Status.UNIMPLEMENTED]: 501,
  [Status.UNAVAILABLE]: 503,
};

/** The Phobos error a gRPC status stands for: the record from `phobos-error-bin` when there is one. */
export function rpcErrorOf(status: Partial<StatusObject>, fallbackId: string): RpcError {
  const bin = status.metadata?.get('phobos-error-bin')[0];
  if (Buffer.isBuffer(bin)) {
    try {
      return RpcError.from(JSON.parse(bin.toString('utf8')) as ErrorRecord);
    } catch {
      // Not ours after all: fall back to the status code.
    }
  }
  return new RpcError(fallbackId, FROM_GRPC[status.code ?? Status.UNKNOWN] ?? 500, status.details ?? 'unknown gRPC error');
}

/**
 * gRPC request metadata as Phobos metadata: keys are already lowercase; binary (`-bin`) entries, gRPC's own
 * (`grpc-*`) and the user agent are left out, and a repeated key keeps its first value.
 */
export function phobosMetadata(md: GrpcMetadata): Metadata | undefined {
  let out: Metadata | undefined;
  for (const [key, value] of Object.entries(md.getMap())) {
    if (typeof value !== 'string' || key.endsWith('-bin') || key.startsWith('grpc-') || key === 'user-agent') continue;
    (out ??= {})[key] = value;
  }
  return out;
}

/** Milliseconds left before a gRPC deadline (Infinity when the caller set none). */
export function remaining(deadline: Date | number): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}

/** A header value gRPC accepts (printable ASCII); anything else is percent-encoded. */
export function asciiHeader(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : encodeURIComponent(s);
}
