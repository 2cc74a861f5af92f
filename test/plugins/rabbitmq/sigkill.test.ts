import type { Event } from '../../../lib/broker/broker';
import { RabbitBroker } from '../../../plugins/rabbitmq';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { Child, eventually, killAll } from '../../helpers/process';

/**
 * A queue-group member dies by SIGKILL in the middle of 10,000 events; a second member takes over. Events are acked
 * only after their handler, so whatever the dead one held unacked (its prefetch) comes back: every event is handled
 * at least once, and only those whose ack died with the process are handled twice.
 */

jest.setTimeout(120_000);

const N = 10_000;
const PREFETCH = 200;
const HANDLER_MS = 20;
const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });

/** Ids a consumer child printed with `prefix` ('s' started, 'h' handled), in order. */
function ids(child: Child, prefix: 's' | 'h'): number[] {
  const out: number[] = [];
  for (const line of child.lines) if (line.startsWith(`${prefix} `)) out.push(Number(line.slice(2)));
  return out;
}

describeEngine('rabbitmq', 'rabbitmq broker: a consumer killed mid-stream', () => {
  let publisher: RabbitBroker | undefined;
  afterAll(async () => {
    await killAll();
    await publisher?.close();
  });

  test(`every one of ${N} events is handled at least once when a member dies by SIGKILL`, async () => {
    const topic = uniqueTopic('sigkill');
    const args = [ENGINE_ADDRESSES.rabbitmq, topic, 'crashers', String(PREFETCH), String(HANDLER_MS)];
    const first = new Child('test/fixtures/rabbitmq-consumer.js', args);
    await first.waitFor(/^READY$/);

    publisher = new RabbitBroker({ url: ENGINE_ADDRESSES.rabbitmq });
    await publisher.connect();
    const pub = publisher;
    let sent = 0;
    // Publishes with up to 100 unconfirmed at a time; the kill comes while this is still going.
    const publishing = (async () => {
      let next = 0;
      const lane = async () => {
        while (next < N) {
          await pub.publish(event(topic, next++));
          sent++;
        }
      };
      await Promise.all(Array.from({ length: 100 }, lane));
    })();

    // Killed past 2,000 handled, at a moment when some of its handlers are running (so some events are unacked).
    await eventually(() => {
      const handledNow = ids(first, 'h').length;
      return handledNow >= 2000 && ids(first, 's').length > handledNow;
    }, 60_000, 10);
    first.kill('SIGKILL');
    await first.exit();
    const sentAtKill = sent;
    const startedByFirst = ids(first, 's');
    const handledByFirst = ids(first, 'h');
    const inFlightAtKill = startedByFirst.length - handledByFirst.length;

    const second = new Child('test/fixtures/rabbitmq-consumer.js', args);
    await second.waitFor(/^READY$/);
    await publishing;
    const handledBySecond = () => ids(second, 'h');
    const all = new Set(handledByFirst);
    await eventually(() => {
      for (const id of handledBySecond()) all.add(id);
      return all.size === N;
    }, 60_000, 100);
    // A moment for any stray duplicate, then count.
    await new Promise((r) => setTimeout(r, 300));
    const seen = new Map<number, number>();
    for (const id of [...handledByFirst, ...handledBySecond()]) seen.set(id, (seen.get(id) ?? 0) + 1);
    const handled = [...seen.values()].reduce((a, b) => a + b, 0);
    const redelivered = [...seen.values()].filter((n) => n > 1).length;
    const firstUnfinished = startedByFirst.filter((id) => !handledByFirst.includes(id));

    console.log(
      `rabbitmq SIGKILL: sent ${sent} (${sentAtKill} when the member died), handled ${handled} ` +
        `(${handledByFirst.length} by the killed member, ${handledBySecond().length} by the second), redelivered ${redelivered}; ` +
        `${inFlightAtKill} handlers were running at the kill (prefetch ${PREFETCH}), and all of them ran again on the second`,
    );
    expect(sent).toBe(N);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
    expect(inFlightAtKill).toBeGreaterThan(0);
    // What the dead member had started but not finished came back to the second one.
    for (const id of firstUnfinished) expect(handledBySecond()).toContain(id);
    // Handled twice only if the first one finished it and died before its ack went out: at most its prefetch.
    expect(redelivered).toBeLessThanOrEqual(PREFETCH);
    second.kill('SIGTERM');
    expect((await second.exit()).code).toBe(0);
  });
});
