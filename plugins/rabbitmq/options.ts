import type { Logger } from '../../lib/observe/logger';

/** Options of the RabbitMQ broker (`createService({ plugins: { rabbitmq: {...} } })`), and their defaults. */

export interface RabbitBrokerOptions {
  /** AMQP URLs, comma-separated or a list; tried in turn on every (re)connect. Default the local node. */
  url?: string | string[];
  /** The topic exchange every event goes through; queue names start with it too. Default `phobos`. */
  exchange?: string;
  /** Unacknowledged deliveries a subscription may hold, which is also how many of its handlers run at once. */
  prefetch?: number;
  /** Handler attempts before an event is given up: dead-lettered for a queue group, dropped (and logged) otherwise. */
  maxDeliveries?: number;
  /** Default milliseconds a publish may wait for the broker's confirm before failing with 408. */
  publishTimeout?: number;
  /** Milliseconds one dial (TCP and AMQP handshake) may take; connect() fails with 503 after it (and keeps trying). */
  connectTimeout?: number;
  /** AMQP heartbeat in seconds: how a silent, half-dead connection is noticed. 0 turns it off. */
  heartbeat?: number;
  /** Reconnect back-off: first delay and ceiling, in milliseconds (doubled per failed attempt, with jitter). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Milliseconds unsubscribe()/close() wait for running handlers before closing their channel. */
  drainTimeout?: number;
  /**
   * Milliseconds a queue group's queues (and its dead-letter queue) may stay unused before RabbitMQ deletes them
   * (x-expires), for groups that come and go; unset = kept until deleted by hand. Every member must agree on it:
   * RabbitMQ refuses to redeclare a queue with other arguments.
   */
  queueExpires?: number;
  logger?: Logger;
}

export const DEFAULT_URL = 'amqp://guest:guest@127.0.0.1:5672';

export interface ResolvedOptions {
  urls: string[];
  exchange: string;
  prefetch: number;
  maxDeliveries: number;
  publishTimeout: number;
  connectTimeout: number;
  heartbeat: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  drainTimeout: number;
  queueExpires: number | undefined;
}

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) throw new Error(`rabbitmq: ${name} must be a positive number, got ${value}`);
  return value;
}

/** `host:port` without a scheme gets `amqp://` (amqplib then logs in as guest, RabbitMQ's loopback default). */
export function normaliseUrl(address: string): string {
  const a = address.trim();
  return /^amqps?:\/\//.test(a) ? a : `amqp://${a}`;
}

export function resolveOptions(o: RabbitBrokerOptions): ResolvedOptions {
  const list = Array.isArray(o.url) ? o.url : (o.url ?? '').split(',');
  const urls = list.map((u) => u.trim()).filter(Boolean).map(normaliseUrl);
  const exchange = o.exchange ?? 'phobos';
  if (!exchange || exchange.startsWith('amq.')) throw new Error(`rabbitmq: exchange "${exchange}" is not usable (empty, or amq.* is reserved)`);
  const reconnectMinMs = positive('reconnectMinMs', o.reconnectMinMs, 100);
  return {
    urls: urls.length ? urls : [DEFAULT_URL],
    exchange,
    prefetch: Math.round(positive('prefetch', o.prefetch, 64)),
    maxDeliveries: Math.round(positive('maxDeliveries', o.maxDeliveries, 5)),
    publishTimeout: positive('publishTimeout', o.publishTimeout, 5000),
    connectTimeout: positive('connectTimeout', o.connectTimeout, 5000),
    heartbeat: Math.round(positive('heartbeat', o.heartbeat, 10, true)),
    reconnectMinMs,
    reconnectMaxMs: Math.max(reconnectMinMs, positive('reconnectMaxMs', o.reconnectMaxMs, 5000)),
    drainTimeout: positive('drainTimeout', o.drainTimeout, 5000, true),
    queueExpires: o.queueExpires === undefined ? undefined : Math.round(positive('queueExpires', o.queueExpires, 0)),
  };
}
