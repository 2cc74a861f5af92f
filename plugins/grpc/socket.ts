import { Client as GrpcClient, connectivityState as State, credentials as grpcCredentials, type ChannelCredentials, type ClientUnaryCall, type Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { RpcError } from '../../lib/errors';
import { type ClientSocket, type Message, type RequestOptions, TRANSPORT_ERROR_ID } from '../../lib/transport/transport';
import { asBuffer, CALL_PATH, callError, passThrough, readResponse, requestHeaders } from './wire';

/**
 * The client side of `--transport=grpc`: one socket is one gRPC channel with a connection of its own (no subchannel
 * sharing), multiplexed by HTTP/2. The socket counts as closed once the connection leaves READY (the server went
 * away, a keepalive ping went unanswered), so the pool dials again and the node is marked; calls still running on
 * it finish or fail as grpc-js decides, and the channel is released when the last one is over.
 */

export interface GrpcDialOptions {
  connectTimeout: number;
  maxFrameSize: number;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  credentials?: ChannelCredentials;
}

interface Pending {
  call: ClientUnaryCall | undefined;
  fail(err: RpcError): void;
}

export class GrpcSocket implements ClientSocket {
  private readonly pending = new Set<Pending>();
  private readonly listeners: ((err: Error | undefined) => void)[] = [];
  private isClosed = false;
  private closeReason: Error | undefined;
  private seq = 0;

  private constructor(
    private readonly client: GrpcClient,
    private readonly address: string,
  ) {}

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
        reject(new RpcError(TRANSPORT_ERROR_ID, 503, `cannot connect to ${address}: ${why}`));
      };
      const watch = (state: State) => {
        channel.watchConnectivityState(state, deadline, (err) => {
          if (err) return fail(`no connection within ${options.connectTimeout} ms`);
          const now = channel.getConnectivityState(true);
          if (now === State.READY) {
            const socket = new GrpcSocket(client, address);
            socket.watchReady();
            resolve(socket);
          } else if (now === State.TRANSIENT_FAILURE || now === State.SHUTDOWN) fail('connection refused');
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
    if (this.isClosed) return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, 503, `connection to ${this.address} is closed`));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, 499, 'request aborted'));
    const id = (this.seq = (this.seq + 1) >>> 0);
    return new Promise<Message>((resolve, reject) => {
      let headers: GrpcMetadata | undefined;
      const p: Pending = {
        call: undefined,
        fail: (err) => {
          if (!this.pending.delete(p)) return;
          signal?.removeEventListener('abort', onAbort);
          p.call?.cancel();
          this.released();
          reject(err);
        },
      };
      const onAbort = () => p.fail(new RpcError(TRANSPORT_ERROR_ID, 499, 'request aborted'));
      this.pending.add(p);
      signal?.addEventListener('abort', onAbort, { once: true });
      p.call = this.client.makeUnaryRequest(
        CALL_PATH,
        passThrough,
        passThrough,
        asBuffer(message.body),
        requestHeaders(message),
        { deadline: Date.now() + options.timeout },
        (err, body) => {
          if (!this.pending.has(p)) return;
          if (err) return p.fail(callError(err, this.address));
          let reply: Message;
          try {
            reply = readResponse(headers!, body!, id);
          } catch (e) {
            return p.fail(new RpcError(TRANSPORT_ERROR_ID, 502, `${this.address} sent a bad reply: ${(e as Error).message}`));
          }
          this.pending.delete(p);
          signal?.removeEventListener('abort', onAbort);
          this.released();
          resolve(reply);
        },
      );
      p.call.on('metadata', (md: GrpcMetadata) => (headers = md));
    });
  }

  /** Closes the connection: what is pending fails with 503, later requests too. */
  close(): void {
    if (!this.isClosed) this.markClosed(undefined);
    const err = new RpcError(TRANSPORT_ERROR_ID, 503, `connection to ${this.address} closed`);
    for (const p of [...this.pending]) p.fail(err);
    this.client.close();
  }

  onClose(listener: (err: Error | undefined) => void): void {
    if (this.isClosed) listener(this.closeReason);
    else this.listeners.push(listener);
  }

  /** Watches the connection: the first move away from READY closes this socket for new requests. */
  private watchReady(): void {
    this.client.getChannel().watchConnectivityState(State.READY, Infinity, () => {
      if (this.isClosed) return;
      this.markClosed(new RpcError(TRANSPORT_ERROR_ID, 503, `connection to ${this.address} lost`));
      if (this.pending.size === 0) this.client.close();
    });
  }

  private markClosed(reason: Error | undefined): void {
    this.isClosed = true;
    this.closeReason = reason;
    for (const l of this.listeners.splice(0)) l(reason);
  }

  /** A request finished: a socket already closed by its connection releases the channel after the last one. */
  private released(): void {
    if (this.isClosed && this.pending.size === 0) this.client.close();
  }
}
