import { STREAM_WINDOW, type ClientStream } from '../../lib';
import { collect, gate, type Item, startStreams, TRANSPORTS } from '../fixtures/streams-service';
import { eventually } from '../helpers/process';
import { stopAll } from '../helpers/services';

/**
 * Flow control and drain for streams, on tcp and memory. A producer is measured at every item it yields against what
 * its consumer has taken: with credit-based flow control it can never be more than one window (plus the item in
 * hand) ahead, however slow the consumer, so nothing is buffered without bound.
 */

afterEach(stopAll);

/** How far ahead a producer may be: the window, plus one item between being yielded and being counted. */
const BOUND = STREAM_WINDOW + 2;

describe.each(TRANSPORTS)('stream flow control over %s', (transport) => {
  test('a slow reader of a server stream holds the server generator to one window', async () => {
    const { client, streams } = await startStreams(transport);
    const stream: ClientStream<number> = await client.endless({});
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    streams.clientTook = 1;
    // The producer runs ahead as far as the window lets it...
    await eventually(() => streams.produced >= STREAM_WINDOW);
    // ...and the reader then takes 200 more, slowly, while the producer's lead is measured at every yield.
    for (let i = 0; i < 200; i++) {
      expect((await it.next()).value).toBe(streams.clientTook);
      streams.clientTook++;
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    stream.cancel();
    expect(streams.maxAhead).toBeGreaterThanOrEqual(STREAM_WINDOW - 1);
    expect(streams.maxAhead).toBeLessThanOrEqual(BOUND);
    await eventually(() => streams.finallyRuns === 1);
    expect(streams.produced).toBeLessThanOrEqual(streams.clientTook + BOUND);
  });

  test('a slow server reading a client stream holds the caller generator to one window', async () => {
    const { client, streams } = await startStreams(transport);
    const held = gate();
    streams.gate = held.promise;
    let produced = 0;
    let maxAhead = 0;
    async function* requests(): AsyncGenerator<Item> {
      for (let i = 0; i < 300; i++) {
        produced++;
        maxAhead = Math.max(maxAhead, produced - streams.serverTook);
        yield { n: 1 };
      }
    }
    const total = client.slowSum(requests());
    // The handler took one message and waits; the caller may send what the first window allows, no more.
    await eventually(() => produced >= STREAM_WINDOW && streams.serverTook === 1);
    expect(produced).toBeLessThanOrEqual(BOUND);
    held.open();
    await expect(total).resolves.toBe(300);
    expect(maxAhead).toBeGreaterThanOrEqual(STREAM_WINDOW - 1);
    expect(maxAhead).toBeLessThanOrEqual(BOUND);
  });

  test('drain waits for an open stream; new streams to the draining server get 503', async () => {
    const { client, server, streams } = await startStreams(transport);
    const held = gate();
    streams.gate = held.promise;
    const got = collect(await client.gated({ items: 3 }));
    expect(server.server.inFlight).toBe(1);
    // The open stream keeps the server from draining within 50 ms...
    expect(await server.server.drain(50)).toBe(false);
    // ...while anything new is refused with the retryable 503, whichever way it streams.
    expect(await client.count({ to: 1 }, { retries: 0 }).catch((e) => e)).toMatchObject({ code: 503, id: 'phobos.server' });
    expect(await client.sum((async function* () {})(), { retries: 0 }).catch((e) => e)).toMatchObject({ code: 503 });
    held.open();
    await expect(got).resolves.toEqual([0, 1, 2]);
    expect(await server.server.drain(5_000)).toBe(true);
    expect(server.server.inFlight).toBe(0);
  });
});
