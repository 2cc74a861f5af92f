import type { ClientOf, ClientStream, Context } from '../../lib';

/**
 * Compile-time proof that the typed client follows the handler class: `npm run typecheck` (tsc --noEmit) fails if a
 * line marked @ts-expect-error stops being an error. The runtime test only keeps jest aware of the file.
 */

interface HelloRequest {
  name: string;
  times?: number;
}

class Greeter {
  async hello(req: HelloRequest, _ctx: Context): Promise<{ message: string }> {
    return { message: req.name };
  }
  async ping(): Promise<'pong'> {
    return 'pong';
  }
  count(req: { n: number }): number {
    return req.n;
  }
  async *list(req: { prefix: string }, _ctx: Context): AsyncGenerator<{ name: string }> {
    yield { name: req.prefix };
  }
  async upload(reqs: AsyncIterable<{ chunk: string }>, _ctx: Context): Promise<{ bytes: number }> {
    let bytes = 0;
    for await (const r of reqs) bytes += r.chunk.length;
    return { bytes };
  }
  async *chat(reqs: AsyncIterable<{ text: string }>): AsyncGenerator<{ reply: string }> {
    for await (const r of reqs) yield { reply: r.text };
  }
  async fail(): Promise<never> {
    throw new Error('always');
  }
}

async function* chunks(): AsyncGenerator<{ chunk: string }> {
  yield { chunk: 'ab' };
}
async function* texts(): AsyncGenerator<{ text: string }> {
  yield { text: 'hi' };
}

declare const greeter: ClientOf<Greeter>;

export async function typedCalls(): Promise<void> {
  const reply: { message: string } = await greeter.hello({ name: 'ada' });
  await greeter.hello({ name: 'ada', times: 2 }, { timeout: 100, metadata: { a: 'b' } });
  const pong: 'pong' = await greeter.ping();
  const n: number = await greeter.count({ n: 1 });
  expect([reply, pong, n]).toBeDefined();

  // @ts-expect-error a misspelled field is a compile error
  await greeter.hello({ nam: 'ada' });
  // @ts-expect-error a field of the wrong type is a compile error
  await greeter.hello({ name: 42 });
  // @ts-expect-error a missing request is a compile error
  await greeter.hello();
  // @ts-expect-error the reply type is inferred, not any
  const wrong: number = await greeter.hello({ name: 'ada' });
  // @ts-expect-error methods the class does not have do not exist
  await greeter.goodbye({});
  void wrong;
  // A handler that always throws keeps its `never` reply (not mistaken for a stream).
  const never: never = await greeter.fail();
  void never;
}

export async function streamCalls(): Promise<void> {
  // Server streaming: a plain request, a ClientStream of the yielded type, cancellable.
  const names: ClientStream<{ name: string }> = await greeter.list({ prefix: 'a' }, { timeout: 100 });
  for await (const n of names) {
    const s: string = n.name;
    void s;
  }
  names.cancel('done');
  // Client streaming: an AsyncIterable of requests, one reply.
  const up: { bytes: number } = await greeter.upload(chunks());
  // Bidi: an AsyncIterable of requests, a ClientStream of replies.
  const replies: ClientStream<{ reply: string }> = await greeter.chat(texts());
  expect([up, replies]).toBeDefined();

  // @ts-expect-error a server stream takes one request, not a stream
  await greeter.list(chunks());
  // @ts-expect-error the request type of a server stream is checked
  await greeter.list({ prefix: 1 });
  // @ts-expect-error a client stream takes an AsyncIterable, not one request
  await greeter.upload({ chunk: 'ab' });
  // @ts-expect-error the items of a request stream are checked
  await greeter.upload(texts());
  // @ts-expect-error a client stream resolves to its reply, not a stream
  const notStream: ClientStream<{ bytes: number }> = await greeter.upload(chunks());
  // @ts-expect-error a server stream resolves to a ClientStream, not the item
  const notItem: { name: string } = await greeter.list({ prefix: 'a' });
  // @ts-expect-error the items of a reply stream are typed
  for await (const r of await greeter.chat(texts())) r.text.trim();
  // @ts-expect-error unary methods stay unary: no stream of requests
  await greeter.hello(chunks());
  void notStream;
  void notItem;
}

test('the typed client file is part of the type check', () => {
  expect(typeof typedCalls).toBe('function');
  expect(typeof streamCalls).toBe('function');
});
