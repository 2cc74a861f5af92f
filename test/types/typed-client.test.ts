import type { ClientOf, Context } from '../../lib';

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
}

test('the typed client file is part of the type check', () => {
  expect(typeof typedCalls).toBe('function');
});
