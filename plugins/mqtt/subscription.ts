import type { EventHandler, Subscription } from '../../lib/broker/broker';
import { decodeEvent } from '../../lib/broker/envelope';
import { RpcError } from '../../lib/errors';
import type { Logger } from '../../lib/observe/logger';
import { MqttConnection, type ConnectionOptions } from './connection';
import { ERROR_ID } from './options';

/**
 * One subscription = one MQTT connection holding one QoS 1 subscription: the topic itself, or `$share/<queue>/<topic>`
 * for a queue group (the server gives each event to one member of the share). A connection of its own keeps
 * subscriptions apart: MQTT acknowledges in order, so mqtt.js handles a connection's messages one at a time, and a
 * slow handler here never holds up another subscription's events, nor the PUBACKs of this process's publishes.
 *
 * The handler runs before the PUBACK (mqtt.js customHandleAcks): events are handled one at a time, in order, and
 * the server's in-flight window bounds how many wait. A failed handler is logged and the event acknowledged: MQTT has
 * no negative acknowledgement that brings a message back. A malformed envelope is logged and acknowledged too.
 *
 * Sessions are clean, so after every reconnect the server knows nothing of us: the subscription is made again, once
 * per CONNACK (mqtt.js's own resubscribe is off, so nothing doubles it).
 */
export class MqttSubscription implements Subscription {
  private readonly connection: MqttConnection;
  private active = true;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Times the subscription was made again after a reconnect (read by tests). */
  restores = 0;

  constructor(
    readonly topic: string,
    readonly queue: string | undefined,
    private readonly filter: string,
    private readonly handler: EventHandler,
    connection: Omit<ConnectionOptions, 'onMessage' | 'onConnect'>,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
    private readonly onEnd: (s: MqttSubscription) => void,
  ) {
    this.connection = new MqttConnection({
      ...connection,
      onMessage: (topic, payload, ack) => void this.deliver(topic, payload).finally(ack),
      onConnect: (reconnect) => reconnect && this.restore(),
    });
  }

  /** Connects and subscribes; resolves once the server granted the subscription (SUBACK). */
  async start(): Promise<void> {
    try {
      await this.connection.ready(this.timeoutMs);
      await this.subscribe();
    } catch (err) {
      await this.end();
      throw err;
    }
  }

  async unsubscribe(): Promise<void> {
    // Ending a clean session ends its subscription on the server too.
    await this.end();
  }

  async end(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.retryTimer);
    this.onEnd(this);
    await this.connection.end();
  }

  private subscribe(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new RpcError(ERROR_ID, 503, `mqtt: no SUBACK for ${this.filter} within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.connection.client.subscribe(this.filter, { qos: 1 }, (err, granted) => {
        clearTimeout(timer);
        // mqtt.js turns a refusing reason code into `err`; a grant of 0x80 is checked too, for older servers.
        const refused = granted?.find((g) => g.qos >= 0x80);
        if (err || refused) reject(new RpcError(ERROR_ID, 503, `mqtt: subscribing to ${this.filter} failed: ${err?.message ?? `reason code ${refused?.qos}`}`));
        else resolve();
      });
    });
  }

  /** After a reconnect: subscribe again, retrying (while connected) until the server grants it. */
  private restore(): void {
    if (!this.active) return;
    this.subscribe().then(
      () => {
        this.restores++;
        this.logger.info({ filter: this.filter }, 'mqtt: subscription restored after reconnect');
      },
      (err: Error) => {
        if (!this.active) return;
        this.logger.warn({ err: err.message, filter: this.filter }, 'mqtt: restoring the subscription failed; retrying');
        this.retryTimer = setTimeout(() => this.connection.connected && this.restore(), 500);
      },
    );
  }

  private async deliver(topic: string, payload: Buffer): Promise<void> {
    if (!this.active) return;
    let event;
    try {
      event = decodeEvent(topic, payload);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, topic }, 'mqtt: dropping a malformed event envelope');
      return;
    }
    try {
      await this.handler(event);
    } catch (err) {
      this.logger.error({ err, topic, queue: this.queue }, 'mqtt: event handler failed; the event is acknowledged and not redelivered');
    }
  }
}
