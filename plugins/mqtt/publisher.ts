import type { Event } from '../../lib/broker/broker';
import { encodeEvent } from '../../lib/broker/envelope';
import { RpcError } from '../../lib/errors';
import type { MqttConnection } from './connection';
import { checkPublishTopic, ERROR_ID } from './options';

type Settle = (err?: RpcError) => void;
type AckCallback = (err?: Error) => void;

/**
 * QoS 1 publishes on one connection. A publish resolves when its PUBACK arrives and fails with 408 when that takes
 * longer than the timeout. It never waits for a connection: while the broker is down it fails at once with 503. A
 * publish in flight when the connection drops fails with 503 too, and is taken out of mqtt.js's in-flight table, so
 * it is not sent again on reconnect behind the back of a caller who was told it failed.
 */
export class Publisher {
  /** Publishes awaiting PUBACK: how to settle each, and the callback mqtt.js holds for it (to find its message id). */
  private readonly pending = new Map<Settle, AckCallback>();

  constructor(private readonly connection: MqttConnection) {
    connection.client.on('close', () => this.failPending());
  }

  publish(event: Event, timeoutMs: number): Promise<void> {
    checkPublishTopic(event.topic);
    if (!this.connection.connected) return Promise.reject(this.connection.unavailable());
    const payload = encodeEvent(event);
    return new Promise<void>((resolve, reject) => {
      const settle: Settle = (err) => {
        if (!this.pending.delete(settle)) return;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const onAck: AckCallback = (err) => settle(err ? new RpcError(ERROR_ID, 503, `mqtt: publish to ${event.topic} failed: ${err.message}`) : undefined);
      const timer = setTimeout(() => {
        settle(new RpcError(ERROR_ID, 408, `mqtt: no PUBACK for ${event.topic} within ${timeoutMs} ms`));
        this.drop(onAck);
      }, timeoutMs);
      this.pending.set(settle, onAck);
      this.connection.client.publish(event.topic, payload, { qos: 1 }, onAck);
    });
  }

  /** Fails every publish still waiting for its PUBACK: the connection is gone. */
  private failPending(): void {
    for (const [settle, onAck] of [...this.pending]) {
      settle(this.connection.unavailable());
      this.drop(onAck);
    }
  }

  /** Takes a publish out of mqtt.js's in-flight table and store, so a reconnect does not send it again. */
  private drop(onAck: AckCallback): void {
    const client = this.connection.client;
    for (const [id, entry] of Object.entries(client.outgoing)) {
      // mqtt.js keeps the very callback given to publish().
      if (entry.cb === onAck) client.removeOutgoingMessage(Number(id));
    }
  }
}
