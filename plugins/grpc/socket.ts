import { Client as GrpcClient, connectivityState as State, credentials as grpcCredentials, type ChannelCredentials, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { RpcError } from '../../lib/errors';
import { PendingRequests, refuseEarly } from '../../lib/transport/pending';
import { type Frame, FrameError, inflateInPlace } from '../../lib/transport/tcp/frame';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { FrameWriter } from '../../lib/transport/tcp/writer';
import { type ClientSocket, type Message, MessageKind, type RequestOptions, TRANSPORT_ERROR_ID } from '../../lib/transport/transport';
import { FRAMES_METHOD, frameLimits, messageSink, refusal, streamEndError } from './wire';

/**
 * The client side of `--transport=grpc`: one socket is one gRPC channel with a connection of its own (no subchannel
 * sharing) and one frames call on it (wire.ts). Requests are multiplexed on that call by request id and their
 * responses may come back in any order; a request that times out or is aborted fails at once and a cancel frame tells
 * the server to stop. When the call ends (the server closed, the connection dropped, a keepalive ping went
 * unanswered) everything pending fails with 503 and the socket counts as closed, so the pool dials again.
 */

export interface GrpcDialOptions {
  connectTimeout: number;
  maxFrameSize: number;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  credentials?: ChannelCredentials;
}

/** The reason a cancel frame gives when the caller's deadline passed (docs/protocol.md §7). */
const CANCEL_DEADLINE = 408;

const unavailable = (detail: string) => new RpcError(TRANSPORT_ERROR_ID, 503, detail);

export class GrpcSocket implements ClientSocket {
  /** Requests waiting for their responses; one that times out or is aborted is cancelled on the server. */
  private readonly pending = new PendingRequests<number>({
    abandoned: (id, err) => {
      if (!this.isClosed) this.writer.control(MessageKind.cancel, id, err.code === 408 ? CANCEL_DEADLINE : 0);
    },
  });
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  private readonly call: ClientDuplexStream<Buffer, Buffer>;
  private nextId = 0;
  private isClosed = false;
  /** What later requests fail with once closed. */
  private closeError: RpcError | undefined;
  /** What onClose listeners hear: undefined when close() was called here. */
  private closeReason: RpcError | undefined;
  private listeners: ((err: Error | undefined) => void)[] = [];

  private constructor(
    private readonly client: GrpcClient,
    private readonly address: string,
    private readonly maxFrameSize: number,
  ) {
    this.reader = new FrameReader(maxFrameSize);
    this.call = client.makeBidiStreamRequest(FRAMES_METHOD.path, FRAMES_METHOD.requestSerialize, FRAMES_METHOD.responseDeserialize);
    this.writer = new FrameWriter(messageSink(this.call, maxFrameSize), frameLimits(maxFrameSize));
    this.call.on('data', (message: Buffer) => this.onMessage(message));
    this.call.on('status', (s: StatusObject) => this.onStatus(s));
    // grpc-js emits a non-OK status as 'error' too; 'status' handles it.
    this.call.on('error', () => undefined);
  }

  /** Connects, failing with 503 at the first refused attempt or when `connectTimeout` passes. */
  static connect(address: string, options: GrpcDialOptions): Promise<GrpcSocket> {
    const channelOptions: Record<string, number> = {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': options.maxFrameSize,
      'grpc.max_send_message_length': options.maxFrameSize,
      // A failed connection is reported to the pool, which has its own backoff: no reconnect storm inside grpc-js.
      'grpc.initial_reconnect_backoff_ms': 1000,
    };
    if (options.heartbeatInterval > 0 && options.heartbeatTimeout > 0) {
      channelOptions['grpc.keepalive_time_ms'] = options.heartbeatInterval;
      channelOptions['grpc.keepalive_timeout_ms'] = options.heartbeatTimeout;
      channelOptions['grpc.keepalive_permit_without_calls'] = 1;
    }
    const client = new GrpcClient(address, options.credentials ?? grpcCredentials.createInsecure(), channelOptions);
    const channel = client.getChannel();
    const deadline = Date.now() + options.connectTimeout;
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        client.close();
        reject(unavailable(`cannot connect to ${address}: ${why}`));
      };
      const watch = (state: State) => {
        channel.watchConnectivityState(state, deadline, (err) => {
          if (err) return fail(`no connection within ${options.connectTimeout} ms`);
          const now = channel.getConnectivityState(true);
          if (now === State.READY) resolve(new GrpcSocket(client, address, options.maxFrameSize));
          else if (now === State.TRANSIENT_FAILURE || now === State.SHUTDOWN) fail('connection refused');
          else watch(now);
        });
      };
      watch(channel.getConnectivityState(true));
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  request(message: Message, options: RequestOptions): Promise<Message> {
    if (this.isClosed) return Promise.reject(this.closeError ?? unavailable(`connection to ${this.address} is closed`));
    const refused = refuseEarly(options);
    if (refused) return Promise.reject(refused);
    const { timeout, signal } = options;
    const id = this.allocateId();
    try {
      // The server learns the caller's deadline from the frame.
      this.writer.write(message.timeout > 0 ? message : { ...message, timeout }, id);
    } catch (err) {
      return Promise.reject(refusal(err));
    }
    return this.pending.add(id, timeout, signal, undefined);
  }

  /** Closes the connection: what is pending fails with 503, later requests too; listeners hear no error. */
  close(): void {
    if (this.isClosed) return;
    this.shutdown(unavailable(`connection to ${this.address} closed`), true);
    this.call.cancel();
    this.client.close();
  }

  onClose(listener: (err: Error | undefined) => void): void {
    if (this.isClosed) listener(this.closeReason);
    else this.listeners.push(listener);
  }

  private onMessage(message: Buffer): void {
    this.reader.push(message);
    try {
      for (let f = this.reader.next(); f !== null; f = this.reader.next()) this.onFrame(f);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      // The server speaks broken frames: nothing more on this call can be trusted.
      this.shutdown(new RpcError(TRANSPORT_ERROR_ID, 502, `${this.address} sent a bad frame: ${err.reason}`));
      this.call.cancel();
      this.client.close();
    }
  }

  private onFrame(f: Frame): void {
    // Only responses travel to a client here; anything else is ignored, as over tcp.
    if (f.kind !== MessageKind.response) return;
    // A response after its request timed out or was aborted is dropped.
    const p = this.pending.take(f.id);
    if (!p) return;
    const refused = inflateInPlace(f, this.maxFrameSize);
    if (refused) return p.reject(new RpcError(TRANSPORT_ERROR_ID, refused.code, refused.reason));
    p.resolve(f);
  }

  private onStatus(s: StatusObject): void {
    if (this.isClosed) return;
    this.shutdown(streamEndError(s, this.address));
    this.client.close();
  }

  private allocateId(): number {
    // Ids wrap at 2^32; skipping ones still in flight keeps them unique even after wrapping.
    do this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    while (this.pending.has(this.nextId));
    return this.nextId;
  }

  private shutdown(err: RpcError, byUs = false): void {
    this.isClosed = true;
    this.closeError = err;
    this.closeReason = byUs ? undefined : err;
    this.writer.close();
    this.pending.failAll(err);
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) l(this.closeReason);
  }
}
