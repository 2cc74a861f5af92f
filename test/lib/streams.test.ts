import { RpcError } from '../../lib';
import { collect, Feed, type Item, items, startStreams, TRANSPORTS } from '../fixtures/streams-service';
import { Child, eventually, killAll } from '../helpers/process';
import { stopAll } from '../helpers/services';

/**
 * Streaming calls end to end, through the typed proxy, between two services on real tcp sockets and on the memory
 * transport: the same cases on both.
 */

afterEach(stopAll);
afterAll(killAll);

describe.each(TRANSPORTS)('streams over %s', (transport) => {
  test('a server stream of 1000 items arrives complete and in order', async () => {
    const { client } = await startStreams(transport);
    const got = await collect(await client.count({ to: 1000 }));
    expect(got.map((x) => x.i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test('a client stream is summed into one reply', async () => {
    const { client } = await startStreams(transport);
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    await expect(client.sum(items(values))).resolves.toEqual({ total: 5050, count: 100 });
    await expect(client.sum(items([]))).resolves.toEqual({ total: 0, count: 0 });
  });

  test('a bidi stream echoes each request before the next is sent', async () => {
    const { client } = await startStreams(transport);
    const feed = new Feed<Item>();
    const replies = (await client.echo(feed))[Symbol.asyncIterator]();
    for (let i = 0; i < 20; i++) {
      feed.push({ n: i });
      expect(await replies.next()).toEqual({ done: false, value: { n: i * 10 } });
    }
    feed.close();
    expect((await replies.next()).done).toBe(true);
  });

  test('the untyped client.stream() takes a request stream and resolves with the reply', async () => {
    const { caller } = await startStreams(transport);
    await expect(caller.client.stream('streams', 'sum', items([1, 2, 3]))).resolves.toEqual({ total: 6, count: 3 });
    // A plain request goes the call() way: a unary endpoint answers with its value.
    await expect(caller.client.stream('streams', 'hello', { name: 'ann' })).resolves.toBe('hi ann');
  });

  test('an invalid request stream message ends the call with a 400 naming the field', async () => {
    const { client } = await startStreams(transport);
    const err = await client.sum(items([1, 2, -3, 4])).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: 400, id: 'streams.sum' });
    expect(err.issues.map((i: { path: string }) => i.path)).toEqual(['n']);

    const got: { n: number }[] = [];
    const bidiErr = await collect(await client.echo(items([1, 2, -5, 3])), got).catch((e) => e);
    expect(got).toEqual([{ n: 10 }, { n: 20 }]);
    expect(bidiErr).toMatchObject({ code: 400, id: 'streams.echo' });
    expect(bidiErr.issues.map((i: { path: string }) => i.path)).toEqual(['n']);
  });

  test('a handler error mid-stream reaches the client after the items before it', async () => {
    const { client } = await startStreams(transport);
    const got: number[] = [];
    const err = await collect(await client.failAfter({ items: 3 }), got).catch((e) => e);
    expect(got).toEqual([0, 1, 2]);
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: 409, id: 'streams.failAfter', detail: 'gave up after 3' });
  });

  test('a refused call rejects before any iteration: 400 for a bad request, 404 for no such endpoint', async () => {
    const { client, caller } = await startStreams(transport);
    const bad = await client.count({ to: -1 }).catch((e) => e);
    expect(bad).toMatchObject({ code: 400, id: 'streams.count' });
    const missing = await caller.client.stream('streams', 'nope', items([1])).catch((e) => e);
    expect(missing).toMatchObject({ code: 404 });
    // The shapes must match: a request stream to a one-request endpoint, and one request to a request stream.
    expect(await caller.client.stream('streams', 'hello', items([1])).catch((e) => e)).toMatchObject({ code: 400 });
    expect(await caller.client.call('streams', 'sum', { n: 1 }).catch((e) => e)).toMatchObject({ code: 400 });
  });

  test('cancel() stops the server: its signal aborts and the generator is closed', async () => {
    const { client, streams } = await startStreams(transport);
    const stream = await client.endless({});
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(0);
    expect((await it.next()).value).toBe(1);
    stream.cancel('enough');
    expect((await it.next()).done).toBe(true);
    await eventually(() => streams.finallyRuns === 1);
    expect(streams.abortReasons).toEqual(['499']);
  });

  test('leaving a for-await early cancels the call the same way', async () => {
    const { client, streams } = await startStreams(transport);
    let last = -1;
    for await (const i of await client.endless({})) {
      last = i;
      if (i === 5) break;
    }
    expect(last).toBe(5);
    await eventually(() => streams.finallyRuns === 1);
    expect(streams.abortReasons).toEqual(['499']);
  });

  test('a request stream that throws cancels the call; the caller sees why', async () => {
    const { client } = await startStreams(transport);
    async function* failing(): AsyncGenerator<Item> {
      yield { n: 1 };
      throw new Error('source broke');
    }
    const err = await client.sum(failing()).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe(499);
    expect(err.detail).toMatch(/source broke/);
  });

  test('the deadline covers the whole stream: 408 on both sides', async () => {
    const { client, streams } = await startStreams(transport);
    const got: number[] = [];
    const err = await collect(await client.endless({ every: 20 }, { timeout: 400 }), got).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe(408);
    expect(got.length).toBeGreaterThan(0);
    await eventually(() => streams.finallyRuns === 1);
    expect(streams.abortReasons).toEqual(['TimeoutError']);
  });

  test('a dropped connection fails both sides with 503', async () => {
    const { client, caller, streams } = await startStreams(transport);
    const it = (await client.endless({}))[Symbol.asyncIterator]();
    await it.next();
    caller.client.close();
    const err = await it.next().catch((e) => e);
    expect(err).toMatchObject({ code: 503 });
    await eventually(() => streams.finallyRuns === 1);
    expect(streams.abortReasons).toEqual(['503']);
  });
});

test('the greeter stream example runs and prints what it streamed', async () => {
  const example = new Child('examples/greeter/stream.js');
  const { code } = await example.exit(20_000);
  expect(example.lines).toEqual(['countdown: 5 4 3 2 1 0', 'average of 3 readings: 6', 'stopped a countdown from 1000 after 3 numbers']);
  expect(code).toBe(0);
});
