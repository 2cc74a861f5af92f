import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { RpcError } from '../../lib/errors';
import type { Logger } from '../../lib/observe/logger';
import { END_MS, ERROR_ID } from './options';

export interface ConnectionOptions {
  urls: string[];
  clientId: string;
  connectTimeout: number;
  reconnectMin: number;
  reconnectMax: number;
  keepalive: number;
  username?: string;
  password?: string;
  /** Called for each QoS 1 message before its PUBACK; the PUBACK goes when `ack` is called. */
  onMessage?: (topic: string, payload: Buffer, ack: () => void) => void;
  /** Called on every CONNACK (the first and each reconnect): a clean session starts empty every time. */
  onConnect?: (reconnect: boolean) => void;
  logger: Logger;
}

/**
 * One MQTT 5 connection with a clean session, reconnecting by itself with doubling delays (mqtt.js alone retries at
 * a fixed period, so its own reconnect is off and this drives `reconnect()`). It knows whether the server is known
 * to be down (an attempt failed and the next is waiting), so callers can fail fast instead of queueing.
 */
export class MqttConnection {
  readonly client: MqttClient;
  private wait: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private connects = 0;
  /** An attempt failed and none has succeeded since. */
  private down = false;

  constructor(private readonly options: ConnectionOptions) {
    this.wait = options.reconnectMin;
    const [first, ...rest] = options.urls;
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clean: true,
      clientId: options.clientId,
      keepalive: options.keepalive,
      connectTimeout: options.connectTimeout,
      reconnectPeriod: 0,
      resubscribe: false,
      username: options.username,
      password: options.password,
      properties: { sessionExpiryInterval: 0 },
      ...(rest.length ? { servers: options.urls.map(serverOf) } : {}),
    };
    if (options.onMessage) {
      const onMessage = options.onMessage;
      clientOptions.customHandleAcks = (topic, payload, _packet, done) => onMessage(topic, payload, () => done(0));
    }
    this.client = connect(first, clientOptions);
    this.client.on('error', (err) => options.logger.debug({ err: err.message, client: options.clientId }, 'mqtt: connection error'));
    this.client.on('connect', () => {
      this.down = false;
      this.wait = options.reconnectMin;
      const reconnect = this.connects++ > 0;
      if (reconnect) options.logger.info({ client: options.clientId }, 'mqtt: reconnected');
      options.onConnect?.(reconnect);
    });
    this.client.on('close', () => this.onClose());
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /**
   * Resolves once connected. While the server is known to be down it fails at once with 503; during an attempt it
   * waits for that attempt's outcome, at most `ms`.
   */
  ready(ms: number): Promise<void> {
    if (this.closed) return Promise.reject(new RpcError(ERROR_ID, 503, 'mqtt: the broker client is closed'));
    if (this.client.connected) return Promise.resolve();
    if (this.down) return Promise.reject(this.unavailable());
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.client.removeListener('connect', onConnect);
        this.client.removeListener('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = () => done();
      const onClose = () => done(this.unavailable());
      const timer = setTimeout(() => done(new RpcError(ERROR_ID, 503, `mqtt: no connection to ${this.options.urls.join(', ')} within ${ms} ms`)), ms);
      this.client.on('connect', onConnect);
      this.client.on('close', onClose);
    });
  }

  /** Sends DISCONNECT and closes; drops the socket if that takes longer than END_MS. No reconnect afterwards. */
  async end(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.client.end(true);
        resolve();
      }, END_MS);
      this.client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  unavailable(): RpcError {
    return new RpcError(ERROR_ID, 503, `mqtt: not connected to ${this.options.urls.join(', ')} (reconnecting)`);
  }

  private onClose(): void {
    if (this.closed) return;
    this.down = true;
    if (this.retryTimer) return;
    const wait = this.wait;
    this.wait = Math.min(this.wait * 2, this.options.reconnectMax);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.client.reconnect();
    }, wait);
  }
}

function serverOf(url: string): { host: string; port: number; protocol: 'mqtt' | 'mqtts' } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883)), protocol: u.protocol === 'mqtts:' ? 'mqtts' : 'mqtt' };
}
