import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Redis from 'ioredis';
import type { EventHandler } from '../../lib/broker/broker';
import { decodeEvent } from '../../lib/broker/envelope';
import type { Logger } from '../../lib/observe/logger';
import { hangUp, openConnection, whenReady } from './connection';
import { CLAIM_ABANDONED, DEAD_LETTER, LEAVE, PRUNE, RETRY_OWN } from './scripts';

/**
 * One member of a queue group: a consumer in the stream's consumer group. It reads with XREADGROUP BLOCK on a
 * connection of its own (a blocked read would stall every other command on a shared one), runs the handler for one
 * entry at a time and acknowledges (XACK) only after the handler succeeded. A failed entry stays pending and is tried
 * again after `retryDelayMs`; entries another member left pending (it died, or hangs) are claimed with XAUTOCLAIM once
 * idle for `claimIdleMs`. An entry delivered more than `maxDeliveries` times goes to the dead-letter stream.
 */

export interface ConsumerSettings {
  address: string;
  stream: string;
  deadLetter: string;
  group: string;
  topic: string;
  durable: boolean;
  maxLen: number;
  blockMs: number;
  batch: number;
  claimIdleMs: number;
  claimIntervalMs: number;
  retryDelayMs: number;
  maxDeliveries: number;
  pruneIdleMs: number;
  connectTimeoutMs: number;
  logger: Logger;
}

interface Delivery {
  id: string;
  /** How many times the group has handed this entry out, this time included. */
  deliveries: number;
  envelope: Buffer | null;
}

/** How long stop() waits for the entry being handled before leaving it pending for another member. */
const STOP_WAIT_MS = 5000;

export class StreamConsumer {
  readonly name = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly reader: Redis;
  private readonly backlog: Delivery[] = [];
  /** Ids read or claimed and not yet finished here: a claim must not queue the same entry twice. */
  private readonly held = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private claimTimer: NodeJS.Timeout | undefined;
  private claiming = false;
  private claimTicks = 0;
  private current: Promise<void> | undefined;
  private roomForMore: (() => void) | undefined;
  private readLoop: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly cmd: Redis,
    private readonly handler: EventHandler,
    private readonly s: ConsumerSettings,
  ) {
    this.reader = openConnection(s.address, `phobos-consumer-${s.group}`, s.logger);
  }

  /** Resolves once the group and this consumer exist: events published from then on reach the group. */
  async start(): Promise<void> {
    await whenReady(this.reader, this.s.connectTimeoutMs, 'phobos.broker.redis');
    await this.ensureGroup();
    this.readLoop = this.read();
    this.claimTimer = setInterval(() => void this.claimAbandoned(), this.s.claimIntervalMs);
    this.claimTimer.unref();
  }

  /**
   * Stops reading, lets the entry being handled finish, and hands back what it had read but not handled (its idle
   * time is set past the claim bound, so another member claims it at once). The consumer then leaves the group if it
   * holds nothing; a non-durable group leaves with its last member.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.claimTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.roomForMore?.();
    hangUp(this.reader);
    await this.readLoop;
    if (this.current) await Promise.race([this.current, new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    const unhandled = this.backlog.splice(0).map((d) => d.id);
    if (this.cmd.status !== 'ready') return;
    try {
      if (unhandled.length) {
        await this.cmd.xclaim(this.s.stream, this.s.group, this.name, 0, ...unhandled, 'IDLE', this.s.claimIdleMs, 'JUSTID');
      }
      await LEAVE.run(this.cmd, [this.s.stream], [this.s.group, this.name, this.s.durable ? '0' : '1']);
    } catch (err) {
      this.s.logger.debug({ err: (err as Error).message, group: this.s.group }, 'redis consumer: leaving the group failed');
    }
  }

  /** Creates the group at `$` (only events published from now on) unless it exists, and this consumer in it. */
  private async ensureGroup(): Promise<void> {
    try {
      await this.reader.xgroup('CREATE', this.s.stream, this.s.group, '$', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
    // The consumer exists from now, not from its first read: a leaving last member must see it and keep the group.
    await this.reader.xgroup('CREATECONSUMER', this.s.stream, this.s.group, this.name);
  }

  private async read(): Promise<void> {
    while (!this.stopped) {
      if (this.backlog.length >= this.s.batch) {
        await new Promise<void>((resolve) => (this.roomForMore = resolve));
        continue;
      }
      try {
        const reply = (await this.reader.callBuffer(
          'XREADGROUP', 'GROUP', this.s.group, this.name, 'COUNT', this.s.batch, 'BLOCK', this.s.blockMs, 'STREAMS', this.s.stream, '>',
        )) as [Buffer, [Buffer, Buffer[]][]][] | null;
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) this.enqueue({ id: id.toString(), deliveries: 1, envelope: envelopeOf(fields) });
        }
      } catch (err) {
        if (this.stopped) return;
        await this.recover(err as Error);
      }
    }
  }

  /** After a failed read: the group is gone (the server restarted empty) → create it again; else wait to reconnect. */
  private async recover(err: Error): Promise<void> {
    try {
      if (/NOGROUP/.test(err.message)) {
        this.s.logger.info({ group: this.s.group, topic: this.s.topic }, 'redis consumer: group missing (server restarted?); creating it again');
        await this.ensureGroup();
      } else {
        this.s.logger.debug({ err: err.message, group: this.s.group }, 'redis consumer: read failed; waiting for the connection');
        await whenReady(this.reader, this.s.connectTimeoutMs, 'phobos.broker.redis');
      }
    } catch {
      // Still down (or stopping): pause briefly rather than spin; ioredis keeps reconnecting meanwhile.
      if (!this.stopped) await new Promise((r) => setTimeout(r, 100));
    }
  }

  private enqueue(d: Delivery): void {
    if (this.stopped || this.held.has(d.id)) return;
    this.held.add(d.id);
    this.backlog.push(d);
    if (!this.current) this.current = this.drain();
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      const d = this.backlog.shift();
      if (!d) break;
      if (this.backlog.length < this.s.batch && this.roomForMore) {
        this.roomForMore();
        this.roomForMore = undefined;
      }
      await this.handle(d);
      this.held.delete(d.id);
    }
    this.current = undefined;
  }

  private async handle(d: Delivery): Promise<void> {
    const log = this.s.logger;
    if (!d.envelope) return this.ack(d.id); // an entry without our field: nothing to deliver
    if (d.deliveries > this.s.maxDeliveries) return this.deadLetter(d);
    let event;
    try {
      event = decodeEvent(this.s.topic, d.envelope);
    } catch (err) {
      log.warn({ err: (err as Error).message, topic: this.s.topic, id: d.id }, 'redis broker: dropping a malformed event');
      return this.ack(d.id);
    }
    try {
      await this.handler(event);
    } catch (err) {
      log.warn({ err: (err as Error).message, topic: this.s.topic, id: d.id, deliveries: d.deliveries }, 'event handler failed; will retry');
      return this.retryLater(d);
    }
    await this.ack(d.id);
  }

  private async ack(id: string): Promise<void> {
    try {
      await this.cmd.xack(this.s.stream, this.s.group, id);
    } catch (err) {
      // Left pending: another member (or this one) claims it after claimIdleMs, so it may be handled twice.
      this.s.logger.warn({ err: (err as Error).message, id }, 'redis broker: acknowledging failed');
    }
  }

  private async deadLetter(d: Delivery): Promise<void> {
    try {
      await DEAD_LETTER.run(this.cmd, [this.s.stream, this.s.deadLetter], [this.s.group, d.id, d.envelope ?? '', d.deliveries - 1, this.s.maxLen]);
      this.s.logger.warn({ topic: this.s.topic, group: this.s.group, id: d.id, attempts: d.deliveries - 1 }, 'redis broker: event moved to the dead-letter stream');
    } catch (err) {
      this.s.logger.warn({ err: (err as Error).message, id: d.id }, 'redis broker: dead-lettering failed');
    }
  }

  /** The failed entry stays pending under this consumer; take it back after the retry delay, if still ours. */
  private retryLater(d: Delivery): void {
    const timer = setTimeout(async () => {
      this.retryTimers.delete(timer);
      if (this.stopped) return;
      try {
        const args = [this.s.group, this.name, d.id, this.s.retryDelayMs];
        this.enqueueClaimed(await RETRY_OWN.run(this.cmd, [this.s.stream], args, true));
      } catch (err) {
        this.s.logger.debug({ err: (err as Error).message, id: d.id }, 'redis consumer: retry claim failed; left for the abandoned-entry claim');
      }
    }, this.s.retryDelayMs);
    timer.unref();
    this.retryTimers.add(timer);
  }

  private async claimAbandoned(): Promise<void> {
    if (this.claiming || this.stopped || this.cmd.status !== 'ready' || this.backlog.length >= this.s.batch) return;
    this.claiming = true;
    try {
      const args = [this.s.group, this.name, this.s.claimIdleMs, this.s.batch];
      this.enqueueClaimed(await CLAIM_ABANDONED.run(this.cmd, [this.s.stream], args, true));
      // Now and then, remove members that died and hold nothing (they would keep a non-durable group alive).
      if (++this.claimTicks % 10 === 0) await PRUNE.run(this.cmd, [this.s.stream], [this.s.group, this.name, this.s.pruneIdleMs]);
    } catch (err) {
      // NOGROUP after a restart is the reader's to fix; anything else is an outage that will pass.
      this.s.logger.debug({ err: (err as Error).message, group: this.s.group }, 'redis consumer: claim failed');
    } finally {
      this.claiming = false;
    }
  }

  private enqueueClaimed(reply: unknown): void {
    for (const [id, deliveries, envelope] of (reply as [Buffer, number, Buffer | null][]) ?? []) {
      this.enqueue({ id: id.toString(), deliveries: Number(deliveries), envelope: envelope || null });
    }
  }
}

/** The envelope in an entry's flat field list (`e`), or null if it has none. */
function envelopeOf(fields: Buffer[] | null): Buffer | null {
  if (!fields) return null;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i].toString() === 'e') return fields[i + 1];
  return null;
}
