import { Method, RpcError, Service } from '../../lib';
import type { CallWrapper } from '../../lib/client/types';
import type { DefaultSelector } from '../../lib/selector/default';
import { newNamespace, stopAll, testService } from '../helpers/services';

/**
 * The circuit breaker seen from real calls over tcp: a node whose endpoint keeps failing leaves selection for that
 * endpoint, and comes back through half-open trial calls once it heals.
 */

@Service({ name: 'flaky' })
class Flaky {
  sick = false;
  served = 0;
  constructor(readonly label: string) {}

  @Method()
  async work(): Promise<string> {
    this.served++;
    if (this.sick) throw new Error(`${this.label} is sick`);
    return this.label;
  }
}

afterEach(stopAll);

test('the breaker opens on a failing node, keeps it out, and closes again when it heals', async () => {
  const namespace = newNamespace();
  const a = new Flaky('a');
  const b = new Flaky('b');
  const nodeA = testService({ name: 'flaky', namespace }).handle(a);
  await nodeA.start();
  await testService({ name: 'flaky', namespace }).handle(b).start();
  const chosen: string[] = [];
  const record: CallWrapper = (next) => (attempt) => {
    chosen.push(attempt.node.id);
    return next(attempt);
  };
  const caller = testService({
    name: 'caller',
    namespace,
    selector: 'roundrobin',
    callWrappers: [record],
    breaker: { consecutiveFailures: 3, pause: 1000, halfOpenTrials: 1 },
  });
  const changes: string[] = [];
  (caller.selector as DefaultSelector).onBreakerChange((e) => changes.push(`${e.endpoint}:${e.from}->${e.to}`));

  a.sick = true;
  const outcomes: string[] = [];
  for (let i = 0; i < 20; i++) {
    outcomes.push(await caller.client.call<string>('flaky', 'work').catch((e: RpcError) => `e${e.code}`));
  }
  // Round-robin alternates until node a has failed 3 times in a row; then only b is chosen.
  expect(outcomes.filter((o) => o === 'e500')).toHaveLength(3);
  expect(outcomes.slice(-10)).toEqual(Array(10).fill('b'));
  expect(a.served).toBe(3);
  expect(changes).toEqual(['work:closed->open']);

  // Healed, and past the pause: a trial call reaches a, succeeds, and the breaker closes.
  a.sick = false;
  const deadline = Date.now() + 5000;
  while (!changes.includes('work:half-open->closed')) {
    if (Date.now() > deadline) throw new Error(`breaker never closed: ${changes.join(', ')}`);
    await caller.client.call('flaky', 'work');
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(changes).toEqual(['work:closed->open', 'work:open->half-open', 'work:half-open->closed']);
  chosen.length = 0;
  for (let i = 0; i < 10; i++) await caller.client.call('flaky', 'work');
  expect(chosen.filter((id) => id === nodeA.nodeId).length).toBe(5);
});

test('with every node open, calls fail fast with 503 from the selector instead of reaching a broken node', async () => {
  const namespace = newNamespace();
  const a = new Flaky('a');
  a.sick = true;
  await testService({ name: 'flaky', namespace }).handle(a).start();
  const caller = testService({ name: 'caller', namespace, breaker: { consecutiveFailures: 2, pause: 60_000 } });
  for (let i = 0; i < 2; i++) await expect(caller.client.call('flaky', 'work')).rejects.toMatchObject({ code: 500 });
  const err = await caller.client.call<never>('flaky', 'work').catch((e: RpcError) => e);
  expect(err).toMatchObject({ code: 503, id: 'phobos.selector' });
  expect(err.detail).toMatch(/circuit/i);
  expect(a.served).toBe(2);
});
