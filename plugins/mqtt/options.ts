import { RpcError } from '../../lib/errors';
import type { Logger } from '../../lib/observe/logger';

/** Options of the mqtt broker, its defaults, and the checks on topic and queue names. */

export interface MqttBrokerOptions {
  /** Broker URL(s), comma-separated (`mqtt://127.0.0.1:1883`); more than one = failover in that order. */
  url?: string;
  /** Milliseconds a publish may wait for its PUBACK before failing with 408 (PublishOptions.timeout wins). */
  timeout?: number;
  /** Milliseconds to wait for CONNACK on each attempt; default 5000. */
  connectTimeout?: number;
  /** Reconnect backoff: first delay and cap in ms (doubling in between); defaults 100 and 5000. */
  reconnectMin?: number;
  reconnectMax?: number;
  /** MQTT keepalive in seconds; default 60. A handler running longer than this costs its connection a reconnect. */
  keepalive?: number;
  username?: string;
  password?: string;
  /** Client ids are `<prefix>-<random>-pub` and `<prefix>-<random>-sub<N>`; default `phobos`. */
  clientIdPrefix?: string;
  logger?: Logger;
}

export const DEFAULT_URL = 'mqtt://127.0.0.1:1883';
export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_RECONNECT_MIN_MS = 100;
export const DEFAULT_RECONNECT_MAX_MS = 5000;
export const DEFAULT_KEEPALIVE_S = 60;
/** unsubscribe()/close() wait this long for a clean DISCONNECT before dropping the socket. */
export const END_MS = 1000;

export const ERROR_ID = 'phobos.broker.mqtt';

export function urlsOf(url: string | undefined): string[] {
  const list = (url ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  return (list.length ? list : [DEFAULT_URL]).map((u) => (/^[a-z]+:\/\//.test(u) ? u : `mqtt://${u}`));
}

/**
 * A topic to publish to: MQTT forbids wildcards there, and a server answers a bad PUBLISH by dropping the
 * connection, so it is refused here with a 400 instead. `$`-topics belong to the server.
 */
export function checkPublishTopic(topic: string): void {
  if (!topic || hasAny(topic, '+#\u0000') || topic.startsWith('$')) {
    throw new RpcError(ERROR_ID, 400, `mqtt: "${topic}" is not a topic one can publish to (no +, # or leading $)`);
  }
}

/** A topic filter to subscribe to: MQTT wildcards are allowed (`+` one level, `#` the rest), `$` is not. */
export function checkFilter(topic: string, queue: string | undefined): string {
  if (!topic || topic.includes('\u0000') || topic.startsWith('$')) throw new RpcError(ERROR_ID, 400, `mqtt: "${topic}" is not a topic filter`);
  if (queue === undefined) return topic;
  if (!queue || hasAny(queue, '/+#\u0000')) throw new RpcError(ERROR_ID, 400, `mqtt: queue "${queue}" may not contain /, + or #`);
  return `$share/${queue}/${topic}`;
}

function hasAny(text: string, chars: string): boolean {
  for (const c of chars) if (text.includes(c)) return true;
  return false;
}
