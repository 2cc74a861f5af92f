import { nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { EventHandler, Subscription } from '../../lib/broker/broker';
import { decodeEvent } from '../../lib/broker/envelope';
import type { Logger } from '../../lib/observe/logger';
import { jetStreamName } from './subjects';

/**
 * Durable subscriptions on JetStream. A topic asked for durably gets a stream covering it (one already covering the
 * subject is reused; otherwise `PHOBOS_<topic>_<hash>` is created, interest retention, so an event is kept until
 * every consumer acknowledged it, bounded by maxAge). A queue group is a durable pull consumer named after the
 * queue: its members pull from it in turn, and it outlives them, keeping its place while none is running. A durable
 * subscription without a queue gets an ephemeral consumer of its own (the server removes it after it is idle).
 *
 * Each event is acknowledged after its handler resolved; a rejection naks it with a delay, and the event that fails
 * its maxDeliver-th attempt is logged as dropped (and copied to the dead-letter subject when one is set), then termed.
 */

export interface DurableOptions {
  /** Attempts per event before it is dropped. Default 5. */
  maxDeliver?: number;
  /** How long a delivered event may go unacknowledged before JetStream sends it again (ms). Default 30 000. */
  ackWait?: number;
  /** Pause before a failed event is delivered again (ms). Default 1000. */
  redeliveryDelay?: number;
  /** Events older than this are discarded by the stream, acknowledged or not (ms). Default 7 days. */
  maxAge?: number;
  /** When set, an event dropped after maxDeliver attempts is published to `<deadLetter>.<topic>` as it came. */
  deadLetter?: string;
}

const DEFAULTS = { maxDeliver: 5, ackWait: 30_000, redeliveryDelay: 1000, maxAge: 7 * 24 * 3600 * 1000 };
export const STREAM_PREFIX = 'PHOBOS_';
/** Streams found (or made) per topic, and topics known to have none, checked again after this long. */
const NO_STREAM_RECHECK_MS = 2000;

export class JetStreamSide {
  private jsm: JetStreamManager | undefined;
  private js: JetStreamClient | undefined;
  private readonly streams = new Map<string, { name: string | undefined; checked: number }>();
  private readonly opts: Required<Omit<DurableOptions, 'deadLetter'>> & Pick<DurableOptions, 'deadLetter'>;

  constructor(
    private readonly nc: NatsConnection,
    options: DurableOptions,
    private readonly logger: Logger,
  ) {
    this.opts = { ...DEFAULTS, ...options };
  }

  async client(): Promise<JetStreamClient> {
    await this.manager();
    return (this.js ??= jetstream(this.nc));
  }

  /** The stream storing `topic`, if any: publishes to it wait for JetStream's acknowledgement. Cached. */
  async streamFor(topic: string): Promise<string | undefined> {
    const known = this.streams.get(topic);
    if (known && (known.name || Date.now() - known.checked < NO_STREAM_RECHECK_MS)) return known.name;
    // A server without JetStream has no streams: remembered like any other topic without one.
    const jsm = await this.manager().catch(() => undefined);
    const name = jsm ? await jsm.streams.find(topic).catch(() => undefined) : undefined;
    this.streams.set(topic, { name, checked: Date.now() });
    return name;
  }

  /** Subscribes `handler` durably to `topic`: stream and consumer made if missing, then consumed until unsubscribe. */
  async subscribe(topic: string, queue: string | undefined, handler: EventHandler): Promise<Subscription> {
    const stream = await this.ensureStream(topic);
    const jsm = await this.manager();
    const config = {
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: topic,
      max_deliver: this.opts.maxDeliver,
      ack_wait: nanos(this.opts.ackWait),
    };
    let consumerName: string;
    if (queue) {
      consumerName = jetStreamName('', queue);
      const existing = await jsm.consumers.info(stream, consumerName).catch(() => undefined);
      if (!existing) {
        // Two members starting together both try; the loser finds the winner's consumer.
        await jsm.consumers.add(stream, { ...config, durable_name: consumerName }).catch(async (err: unknown) => {
          if (!(await jsm.consumers.info(stream, consumerName).catch(() => undefined))) throw err;
        });
      }
    } else {
      consumerName = (await jsm.consumers.add(stream, { ...config, inactive_threshold: nanos(60_000) })).name;
    }
    const consumer = await (await this.client()).consumers.get(stream, consumerName);
    const messages = await consumer.consume({ max_messages: 64 });
    const done = this.pump(messages, handler);
    let stopped = false;
    return {
      topic,
      queue,
      unsubscribe: async () => {
        if (stopped) return;
        stopped = true;
        await messages.close().catch(() => undefined);
        await done;
        // A queue's consumer is the durable part: it stays. An ephemeral one goes with its only subscriber.
        if (!queue) await jsm.consumers.delete(stream, consumerName).catch(() => undefined);
      },
    };
  }

  private async manager(): Promise<JetStreamManager> {
    return (this.jsm ??= await jetstreamManager(this.nc));
  }

  private async ensureStream(topic: string): Promise<string> {
    const found = await this.streamFor(topic);
    if (found) return found;
    const jsm = await this.manager();
    const name = jetStreamName(STREAM_PREFIX, topic);
    try {
      await jsm.streams.add({ name, subjects: [topic], retention: RetentionPolicy.Interest, max_age: nanos(this.opts.maxAge) });
    } catch (err) {
      // Made meanwhile by another subscriber (same name), or the subject overlaps a stream made meanwhile.
      const now = await jsm.streams.find(topic).catch(() => undefined);
      if (!now) throw err;
      this.streams.set(topic, { name: now, checked: Date.now() });
      return now;
    }
    this.logger.info({ stream: name, topic }, 'created JetStream stream');
    this.streams.set(topic, { name, checked: Date.now() });
    return name;
  }

  /** Handles messages one at a time, in the order pulled, until the consumer is closed. */
  private async pump(messages: ConsumerMessages, handler: EventHandler): Promise<void> {
    try {
      for await (const m of messages) await this.handle(m, handler);
    } catch (err) {
      this.logger.warn({ err }, 'JetStream consumer ended');
    }
  }

  private async handle(m: JsMsg, handler: EventHandler): Promise<void> {
    let event;
    try {
      event = decodeEvent(m.subject, m.data);
    } catch (err) {
      this.logger.warn({ topic: m.subject, err: (err as Error).message }, 'dropped a malformed event envelope');
      m.term('malformed envelope');
      return;
    }
    // A handler slower than ackWait would see its event delivered a second time meanwhile; tell JetStream it works.
    const keepAlive = setInterval(() => m.working(), Math.max(100, this.opts.ackWait / 2));
    try {
      await handler(event);
      m.ack();
    } catch (err) {
      const attempt = m.info.deliveryCount;
      if (attempt < this.opts.maxDeliver) {
        this.logger.debug({ topic: m.subject, attempt, err }, 'event handler failed; JetStream will deliver it again');
        m.nak(this.opts.redeliveryDelay);
        return;
      }
      this.logger.error({ topic: m.subject, attempts: attempt, err }, `event dropped after ${attempt} failed attempts`);
      if (this.opts.deadLetter) {
        try {
          this.nc.publish(`${this.opts.deadLetter}.${m.subject}`, m.data);
        } catch (e) {
          this.logger.warn({ err: e }, 'could not publish to the dead-letter subject');
        }
      }
      m.term('handler failed on every attempt');
    } finally {
      clearInterval(keepAlive);
    }
  }
}
