import { Method, RpcError, Service } from '../../lib';
import { newNamespace, stopAll, testService } from '../helpers/services';

/** Bulkheads: a cap on concurrent requests per endpoint and a bounded queue; overflow is 429 at once. */

class Gate {
  private openers: (() => void)[] = [];
  running = 0;
  maxRunning = 0;
  wait(): Promise<void> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    return new Promise((resolve) =>
      this.openers.push(() => {
        this.running--;
        resolve();
      }),
    );
  }
  open(): void {
    for (const o of this.openers.splice(0)) o();
  }
  get waiting(): number {
    return this.openers.length;
  }
}

@Service({ name: 'guarded' })
class Guarded {
  readonly gate = new Gate();
  order: number[] = [];

  @Method({ bulkhead: { concurrency: 2, queue: 3 } })
  async slow(req: { i: number }): Promise<number> {
    await this.gate.wait();
    this.order.push(req.i);
    return req.i;
  }

  @Method()
  async free(): Promise<string> {
    return 'ok';
  }

  @Method({ bulkhead: false })
  async optedOut(): Promise<string> {
    return 'unguarded';
  }
}

afterEach(stopAll);

async function pair(serviceBulkhead?: { concurrency: number; queue?: number }) {
  const namespace = newNamespace();
  const handler = new Guarded();
  const server = testService({ name: 'guarded', namespace, bulkhead: serviceBulkhead }).handle(handler);
  await server.start();
  const caller = testService({ name: 'caller', namespace });
  return { handler, caller, server };
}

describe('bulkhead', () => {
  test('a burst: 2 run, 3 wait, the other 5 get 429 at once; the queue then runs in order', async () => {
    const { handler, caller } = await pair();
    const settled: string[] = [];
    const calls = Array.from({ length: 10 }, (_, i) =>
      caller.client.call<number>('guarded', 'slow', { i }, { retries: 0 }).then(
        (v) => settled.push(`ok${v}`),
        (e) => settled.push(`e${e.code}`),
      ),
    );
    // Five refusals arrive while every admitted request is still held at the gate.
    await waitFor(() => settled.length === 5);
    expect(settled).toEqual(['e429', 'e429', 'e429', 'e429', 'e429']);
    expect(handler.gate.running).toBe(2);
    while (settled.length < 10) {
      handler.gate.open();
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(calls);
    expect(settled.filter((s) => s.startsWith('ok'))).toHaveLength(5);
    expect(handler.gate.maxRunning).toBe(2);
    // FIFO: the queued ones ran after the first two, in arrival order.
    expect(handler.order.slice(2)).toEqual([...handler.order.slice(2)].sort((a, b) => a - b));
  });

  test('the 429 names the endpoint and is not retried', async () => {
    const { handler, caller } = await pair();
    const held = Array.from({ length: 5 }, (_, i) => caller.client.call('guarded', 'slow', { i }));
    await waitFor(() => handler.gate.running === 2);
    const err = await caller.client.call<never>('guarded', 'slow', { i: 99 }, { retries: 5 }).catch((e: RpcError) => e);
    expect(err).toMatchObject({ code: 429, id: 'guarded.slow' });
    expect(err.detail).toMatch(/bulkhead full: 2 running and 3 waiting/);
    await drainGate(handler.gate, held);
  });

  test('a queued request whose deadline passes leaves the queue with 408 and never runs', async () => {
    const { handler, caller, server } = await pair();
    const held = [0, 1].map((i) => caller.client.call('guarded', 'slow', { i }, { timeout: 5000 }));
    await waitFor(() => handler.gate.running === 2);
    const err = await caller.client.call<never>('guarded', 'slow', { i: 7 }, { timeout: 150 }).catch((e: RpcError) => e);
    expect(err.code).toBe(408);
    // The server gives up on it too (its own deadline or the caller's cancel frame): only the two held remain.
    await waitFor(() => server.server.inFlight === 2);
    handler.gate.open();
    await Promise.all(held);
    expect(handler.gate.running).toBe(0);
    expect(handler.order).not.toContain(7);
  });

  test('a service-wide bulkhead applies to endpoints without their own; `false` opts out', async () => {
    const { caller } = await pair({ concurrency: 1 });
    const results = await Promise.all(Array.from({ length: 20 }, () => caller.client.call('guarded', 'free').catch((e) => e.code)));
    // Each call is quick, but 20 at once against one slot and no queue must refuse some.
    expect(results).toContain(429);
    const optedOut = await Promise.all(Array.from({ length: 20 }, () => caller.client.call('guarded', 'optedOut')));
    expect(optedOut.every((r) => r === 'unguarded')).toBe(true);
  });

  test('the in-process fast path goes through the same bulkhead', async () => {
    const handler = new Guarded();
    const service = testService({ name: 'guarded' }).handle(handler);
    await service.start();
    const results = Array.from({ length: 6 }, (_, i) => service.client.call('guarded', 'slow', { i }).catch((e) => e.code));
    await waitFor(() => handler.gate.running === 2);
    expect(await results[5]).toBe(429);
    await drainGate(handler.gate, results.slice(0, 5));
    expect(await Promise.all(results.slice(0, 5))).toEqual([0, 1, 2, 3, 4]);
  });
});

/** Keeps opening the gate until every call has settled (queued requests reach the gate one release at a time). */
async function drainGate(gate: Gate, calls: Promise<unknown>[]): Promise<void> {
  let settled = 0;
  for (const c of calls) void c.finally(() => settled++).catch(() => undefined);
  await waitFor(() => {
    gate.open();
    return settled === calls.length;
  });
}

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
