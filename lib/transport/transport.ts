/**
 * The Transport contract. A transport moves Message frames between a client socket and a listener; it knows nothing
 * about codecs, services or handlers. Many requests share one ClientSocket (multiplexed by request id), and a
 * transport must never let a call wait forever: every request carries a timeout and fails with a 408 RpcError when
 * it passes, and a dead connection fails its pending requests with a 503 RpcError.
 */

import type { Logger } from '../observe/logger';
import type { StreamChannel } from './stream-channel';

export type Metadata = Record<string, string>;

/** The `id` of errors a transport raises or answers itself (refused bodies, shutting down, connection failures). */
export const TRANSPORT_ERROR_ID = 'phobos.transport';

/** What a frame is for. Numbers are the wire values (docs/protocol.md). */
export const MessageKind = {
  request: 0,
  response: 1,
  /** The caller gave up on a request (deadline or abort): the server should abort the handler. */
  cancel: 2,
  ping: 3,
  pong: 4,
  /** One message of a stream, in either direction (docs/protocol.md, streams). */
  data: 5,
  /** The sender's last frame of a stream: a clean end, or (error set, server only) the call failed. */
  end: 6,
  /** Flow control: the receiver lets the sender send `timeout` more data frames on this stream. */
  credit: 7,
} as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

export interface Message {
  kind: MessageKind;
  /** Request id, unique per connection while the request is in flight; a response carries its request's id. */
  id: number;
  /** Codec wire id of `body` (lib/codec). */
  codec: number;
  /** Target service and endpoint (requests only; empty on responses). */
  service: string;
  endpoint: string;
  /** Milliseconds left before the caller's deadline; 0 means none given. On credit frames: the messages granted. */
  timeout: number;
  metadata: Metadata | undefined;
  /** True when `body` is an encoded ErrorRecord rather than the endpoint's reply. */
  error: boolean;
  body: Uint8Array;
  /**
   * The stream flag. On a request: the request is a stream (client or bidi streaming); its messages follow as data
   * frames once the server grants credit, and the body is empty. On a response: the reply is a stream of data frames
   * ending with an end frame, and the body is empty.
   */
  stream?: boolean;
  /** Client side: the open stream a response with `stream` set starts; the transport attaches it before resolving. */
  channel?: StreamChannel;
}

/** Called by a listener for each inbound request; `reply` sends exactly one response frame back on its connection. */
export type RequestHandler = (request: Message, reply: Reply, peer: PeerInfo) => void;
export type Reply = (response: Message) => void;

export interface PeerInfo {
  /** Remote address as the transport sees it (`127.0.0.1:53412`, `memory:3`). */
  readonly remote: string;
  /** Registers a callback run if the caller cancels request `id` (cancel frame or dropped connection). */
  onCancel(id: number, cb: () => void): void;
  /** Clears the cancel callback when the request completes. */
  clearCancel(id: number): void;
  /**
   * Keeps request `id` open as a stream and returns its channel; the request stays in flight until the channel ends.
   * Transports that cannot carry streams leave this out. Throws an RpcError (429) when the connection already has
   * as many open streams as it may.
   */
  openStream?(id: number): StreamChannel;
}

export interface ListenOptions {
  /**
   * The service this listener serves. Engine transports that can balance by themselves (NATS queue groups) also
   * listen on a subject shared by every node of the service; socket transports ignore it.
   */
  service?: string;
  /** Largest frame accepted, in bytes; larger ones close the connection before being buffered. */
  maxFrameSize?: number;
  /** Most requests one connection may have in flight; past it the server stops reading that connection. */
  maxInFlight?: number;
  /** A frame half received for longer than this closes the connection (ms). */
  frameTimeout?: number;
  /** Bodies larger than this many bytes are gzipped on the wire when that makes them smaller (Infinity: never). */
  compressThreshold?: number;
  /** On close, connections still open after this many ms are destroyed (ms). */
  closeGrace?: number;
  /** Ping a connection that has been silent this long (ms); 0 disables heartbeats. Transports without pings ignore it. */
  heartbeatInterval?: number;
  /** Close a connection that sends nothing for this long after a heartbeat ping (ms); 0 disables heartbeats. */
  heartbeatTimeout?: number;
  /** Where protocol problems (bad frames, closed connections) are reported; silent when absent. */
  logger?: Logger;
}

export interface Listener {
  /** The address actually bound, e.g. `127.0.0.1:40213` after listening on port 0. */
  readonly address: string;
  /** Stop accepting connections; resolves when every connection is closed. Callers drain in-flight work first. */
  close(): Promise<void>;
}

export interface RequestOptions {
  /** Milliseconds before the request fails with 408. Required: nothing waits forever. */
  timeout: number;
  /** Aborting sends a cancel frame and rejects with 499. */
  signal?: AbortSignal;
}

export interface ClientSocket {
  /** Sends a request and resolves with its response frame. The socket assigns `id`. */
  request(message: Message, options: RequestOptions): Promise<Message>;
  /** True once the connection is closed; a pool dials again. */
  readonly closed: boolean;
  /** Number of requests waiting for a response, open streams included. */
  readonly inFlight: number;
  /** Closes the connection; pending requests fail with 503 and close listeners get no error. */
  close(): void;
  /**
   * Registers `listener` to run once when the connection closes, with the reason: `undefined` when this side closed
   * it (`close()`), otherwise the 503 RpcError its pending requests failed with (missed heartbeat, reset, peer gone).
   * Runs at once when the socket is already closed. Optional: a pool that gets none finds closed sockets on next use.
   */
  onClose?(listener: (err: Error | undefined) => void): void;
  /**
   * Opens a call whose request is a stream (client or bidi streaming): sends `message` with the stream flag and
   * returns the call's channel at once. The channel's first inbound message is the server's response: a plain one
   * (the reply, or an error) ends the call; one with `stream` set opens a reply stream. Throws an RpcError (408, 499,
   * 503) where request() would reject. Transports that cannot carry streams leave this out.
   */
  stream?(message: Message, options: RequestOptions): StreamChannel;
}

export interface DialOptions {
  /** Milliseconds to establish the connection before failing with 503. */
  connectTimeout?: number;
  maxFrameSize?: number;
  /** Bodies larger than this many bytes are gzipped on the wire when that makes them smaller (Infinity: never). */
  compressThreshold?: number;
  /** Ping a connection that has been silent this long (ms); 0 disables heartbeats. Transports without pings ignore it. */
  heartbeatInterval?: number;
  /** Close a connection that sends nothing for this long after a heartbeat ping (ms); 0 disables heartbeats. */
  heartbeatTimeout?: number;
  logger?: Logger;
}

export interface Transport {
  readonly name: string;
  listen(address: string, handler: RequestHandler, options?: ListenOptions): Promise<Listener>;
  dial(address: string, options?: DialOptions): Promise<ClientSocket>;
  /** Releases anything the transport holds globally (engine connections for plugin transports). */
  close?(): Promise<void>;
}

/** Builds a response frame for `request`, reusing its id and codec. */
export function responseTo(request: Message, body: Uint8Array, error: boolean, codec = request.codec): Message {
  return {
    kind: MessageKind.response,
    id: request.id,
    codec,
    service: '',
    endpoint: '',
    timeout: 0,
    metadata: undefined,
    error,
    body,
  };
}
