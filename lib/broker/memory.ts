import type { Logger } from '../observe/logger';
import { silentLogger } from '../observe/logger';
import type { Broker, Event, EventHandler, PublishOptions, SubscribeOptions, Subscription } from './broker';
import { route } from './groups';

/**
 * The in-process broker. Brokers in one process share a bus per namespace, so several Services in one test see each
 * other's events with the same fan-out and queue-group rules as the cross-process brokers. `publish` resolves after
 * every chosen subscriber has run; a handler's failure is logged, not thrown at the publisher.
 */

interface Sub {
  id: number;
  topic: string;
  queue?: string;
  handler: EventHandler;
  owner: MemoryBroker;
}

class Bus {
  readonly topics = new Map<string, Sub[]>();
  readonly turns = new Map<string, number>();
  nextId = 1;
}
const buses = new Map<string, Bus>();

export class MemoryBroker implements Broker {
  readonly name = 'memory';
  private readonly bus: Bus;
  private readonly logger: Logger;

  constructor(options: { namespace?: string; logger?: Logger } = {}) {
    const ns = options.namespace ?? 'default';
    let bus = buses.get(ns);
    if (!bus) buses.set(ns, (bus = new Bus()));
    this.bus = bus;
    this.logger = options.logger ?? silentLogger;
  }

  async connect(): Promise<void> {}

  async publish(event: Event, _options?: PublishOptions): Promise<void> {
    const subs = this.bus.topics.get(event.topic);
    if (!subs?.length) return;
    const targets = route(subs, this.bus.turns).map((group) => group[0]);
    await Promise.all(
      targets.map(async (s) => {
        try {
          await s.handler({ ...event, metadata: { ...event.metadata } });
        } catch (err) {
          this.logger.error({ err, topic: event.topic }, 'event handler failed');
        }
      }),
    );
  }

  async subscribe(topic: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    const sub: Sub = { id: this.bus.nextId++, topic, queue: options.queue, handler, owner: this };
    const list = this.bus.topics.get(topic) ?? [];
    list.push(sub);
    this.bus.topics.set(topic, list);
    return { topic, queue: options.queue, unsubscribe: async () => this.remove(sub) };
  }

  async close(): Promise<void> {
    for (const list of this.bus.topics.values()) for (const s of [...list]) if (s.owner === this) this.remove(s);
  }

  private remove(sub: Sub): void {
    const list = this.bus.topics.get(sub.topic);
    if (!list) return;
    const i = list.indexOf(sub);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.bus.topics.delete(sub.topic);
  }
}
