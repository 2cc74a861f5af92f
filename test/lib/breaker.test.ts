import { Writable } from 'node:stream';
import pino from 'pino';
import { errors, RpcError } from '../../lib';
import { BreakerTable, breakerSettings, CLOSED, FAILURE, NEUTRAL, OPEN, SUCCESS, verdictOf } from '../../lib/selector/breaker';
import type { DefaultSelector } from '../../lib/selector/default';
import type { BreakerEvent, SelectOptions } from '../../lib/selector/selector';
import { eventually } from '../helpers/process';
import { call, closeSelectors, countIds, manualClock, nextOf, selectorOver } from './selector-setup';

afterEach(closeSelectors);

const fail = errors.internal('s.e', 'boom');
const three = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
const E: SelectOptions = { endpoint: 'e', strategy: 'roundrobin' };

/** Reports outcomes for node `id` on endpoint e, as a caller would after attempts on it. */
async function outcomes(selector: DefaultSelector, id: string, results: (Error | undefined)[]): Promise<void> {
  await selector.select('s'); // the selector has learned the nodes
  const node = { id, address: `127.0.0.1:${2000 + 'abc'.indexOf(id)}`, metadata: {}, version: '1' };
  for (const r of results) selector.mark('s', node, r, { endpoint: 'e' });
}

async function reachable(selector: DefaultSelector, options: SelectOptions = E): Promise<Set<string>> {
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push(await call(selector, options));
  return new Set(ids);
}

function stateOf(selector: DefaultSelector, node: string, endpoint = 'e') {
  return selector.breakerStates().find((b) => b.node === node && b.endpoint === endpoint)?.state;
}

describe('what counts as a failure', () => {
  test('errors without a code, >= 500, 408 and 429 are failures; 499 is neutral; other 4xx are the node answering', () => {
    expect(verdictOf(undefined)).toBe(SUCCESS);
    expect(verdictOf(new Error('socket hang up'))).toBe(FAILURE);
    for (const code of [500, 502, 503, 504, 408, 429]) expect(verdictOf(new RpcError('x', code, 'y'))).toBe(FAILURE);
    for (const code of [400, 401, 403, 404, 409, 413]) expect(verdictOf(new RpcError('x', code, 'y'))).toBe(SUCCESS);
    expect(verdictOf(errors.cancelled('x', 'caller gave up'))).toBe(NEUTRAL);
  });

  test('settings are checked', () => {
    expect(() => breakerSettings({ failureRatio: 2 })).toThrow(/failureRatio/);
    expect(() => breakerSettings({ minRequests: 0 })).toThrow(/minRequests/);
    expect(breakerSettings({})).toMatchObject({ window: 10_000, minRequests: 20, failureRatio: 0.5, consecutiveFailures: 5, pause: 5_000, halfOpenTrials: 3 });
  });
});

describe('the breaker alone', () => {
  test('the failure ratio counts only the rolling window', () => {
    const b = new BreakerTable(breakerSettings({ window: 1000, minRequests: 4, failureRatio: 0.5, consecutiveFailures: 100 }), 'e');
    let t = 0;
    // 3 failures then 97 successes: 3% over the window, closed.
    for (let i = 0; i < 3; i++) expect(b.result(7, FAILURE, t)).toBeUndefined();
    for (let i = 0; i < 97; i++) b.result(7, SUCCESS, t);
    expect(b.requests(7)).toBe(100);
    // A second later the old calls have left the window: 2 failures out of 4 is 50%.
    t += 1000;
    b.result(7, SUCCESS, t);
    b.result(7, FAILURE, t);
    b.result(7, SUCCESS, t);
    expect(b.requests(7)).toBe(3);
    expect(b.result(7, FAILURE, t)).toBe('failure ratio 0.50 over 4 calls');
    expect(b.stateOf(7)).toBe(OPEN);
    expect(b.stateOf(6)).toBe(CLOSED); // another node's breaker
  });

  test('buckets leave the window one by one as time passes', () => {
    const b = new BreakerTable(breakerSettings({ window: 1000, minRequests: 1000, consecutiveFailures: 1000 }), 'e');
    for (let t = 0; t < 1000; t += 100) b.result(0, FAILURE, t); // one failure in each of the ten buckets
    expect(b.failures(0)).toBe(10);
    b.result(0, SUCCESS, 1000); // the first bucket leaves
    expect([b.failures(0), b.requests(0)]).toEqual([9, 10]);
    b.result(0, SUCCESS, 1450); // four more leave
    expect([b.failures(0), b.requests(0)]).toEqual([5, 7]);
    b.result(0, SUCCESS, 5000); // all of them
    expect([b.failures(0), b.requests(0)]).toEqual([0, 1]);
  });

  test('bucket numbers stay 32-bit however long the clock runs', () => {
    const b = new BreakerTable(breakerSettings({ window: 10, minRequests: 3, consecutiveFailures: 1000 }), 'e'); // 1 ms buckets
    b.result(0, FAILURE, 0);
    b.result(1, FAILURE, 0);
    const later = 2 ** 31 + 5; // past 2^30 buckets: the numbering moves on
    b.result(0, FAILURE, later);
    expect([b.failures(0), b.requests(0)]).toEqual([1, 1]);
    b.result(0, FAILURE, later + 3);
    expect(b.result(0, FAILURE, later + 9)).toBe('failure ratio 1.00 over 3 calls');
    b.result(1, SUCCESS, later + 9); // slot 1's old window was moved with the numbering and is long gone
    expect([b.failures(1), b.requests(1)]).toEqual([0, 1]);
  });
});

describe('breakers in the selector', () => {
  test('open on the failure ratio, but not before minRequests', async () => {
    const { selector } = await selectorOver(three, { breaker: { minRequests: 10, failureRatio: 0.5, consecutiveFailures: 100 } });
    // 9 calls, 5 failed: above the ratio, but fewer calls than minRequests.
    await outcomes(selector, 'a', [fail, undefined, fail, undefined, fail, undefined, fail, undefined, fail]);
    expect(stateOf(selector, 'a')).toBe('closed');
    await outcomes(selector, 'a', [fail]); // 10 calls, 6 failed
    expect(stateOf(selector, 'a')).toBe('open');
    expect(await reachable(selector)).toEqual(new Set(['b', 'c']));
  });

  test('a node that fails every call opens on the ratio only once minRequests calls were seen', async () => {
    const { selector } = await selectorOver(three, { breaker: { minRequests: 5, consecutiveFailures: 100 } });
    const a = (await nextOf(selector, E))()!;
    for (let i = 0; i < 4; i++) selector.mark('s', a, fail, { endpoint: 'e' });
    expect(stateOf(selector, 'a')).toBe('closed');
    selector.mark('s', a, fail, { endpoint: 'e' });
    expect(stateOf(selector, 'a')).toBe('open');
  });

  test('open on consecutive failures; a success in between starts the count again', async () => {
    const { selector } = await selectorOver(three, { breaker: { consecutiveFailures: 3 } });
    await outcomes(selector, 'b', [fail, fail, undefined, fail, fail]);
    expect(stateOf(selector, 'b')).toBe('closed');
    await outcomes(selector, 'b', [fail, fail, fail]);
    expect(stateOf(selector, 'b')).toBe('open');
    expect(await reachable(selector)).toEqual(new Set(['a', 'c']));
  });

  test('4xx answers and cancels never open it; 408 and 429 do', async () => {
    const { selector } = await selectorOver(three, { breaker: { consecutiveFailures: 3, minRequests: 3 } });
    const clientErrors = [errors.badRequest('s.e', 'bad'), errors.notFound('s.e', 'none'), errors.cancelled('s.e', 'gone')];
    for (let i = 0; i < 30; i++) await outcomes(selector, 'a', clientErrors);
    expect(stateOf(selector, 'a')).toBe('closed');
    await outcomes(selector, 'a', [errors.timeout('s.e', 'slow'), errors.tooMany('s.e', 'busy'), errors.timeout('s.e', 'slow')]);
    expect(stateOf(selector, 'a')).toBe('open');
  });

  test('half-open after the pause lets a limited number of trials through; closes when they succeed', async () => {
    const clock = manualClock();
    const { selector } = await selectorOver(three, { now: clock.now, breaker: { consecutiveFailures: 2, pause: 5000, halfOpenTrials: 2 } });
    await outcomes(selector, 'a', [fail, fail]);
    clock.advance(4999);
    expect(await reachable(selector)).toEqual(new Set(['b', 'c']));
    clock.advance(1);
    // Half-open: hand out nodes without marking them: 'a' is handed out twice (its two permits), then no more.
    const held: string[] = [];
    const nodes = [];
    for (let i = 0; i < 12; i++) {
      const n = (await nextOf(selector, E))()!;
      nodes.push(n);
      held.push(n.id);
    }
    expect(countIds(held).get('a')).toBe(2);
    expect(stateOf(selector, 'a')).toBe('half-open');
    const trials = nodes.filter((n) => n.id === 'a');
    selector.mark('s', trials[0], undefined, { endpoint: 'e' });
    expect(stateOf(selector, 'a')).toBe('half-open');
    selector.mark('s', trials[1], undefined, { endpoint: 'e' });
    expect(stateOf(selector, 'a')).toBe('closed');
    for (const n of nodes.filter((x) => x.id !== 'a')) selector.mark('s', n, undefined, { endpoint: 'e' });
    expect(await reachable(selector)).toEqual(new Set(['a', 'b', 'c']));
  });

  test('a failed trial opens it again for another pause; listeners see every change in order', async () => {
    const clock = manualClock();
    const { selector } = await selectorOver(three, { now: clock.now, breaker: { consecutiveFailures: 1, pause: 1000, halfOpenTrials: 1 } });
    const events: BreakerEvent[] = [];
    const stop = selector.onBreakerChange((e) => events.push(e));
    await outcomes(selector, 'c', [fail]);
    clock.advance(1000);
    await call(selector, { ...E, filters: [(ns) => ns.filter((n) => n.id === 'c')] }, fail); // the trial fails
    expect(stateOf(selector, 'c')).toBe('open');
    expect(await reachable(selector)).toEqual(new Set(['a', 'b']));
    clock.advance(1000);
    await call(selector, { ...E, filters: [(ns) => ns.filter((n) => n.id === 'c')] }); // this one succeeds
    stop();
    await outcomes(selector, 'c', [fail]); // after unsubscribing: not seen
    expect(events.map((e) => `${e.from}->${e.to}: ${e.reason}`)).toEqual([
      'closed->open: 1 consecutive failures',
      'open->half-open: pause over',
      'half-open->open: trial failed',
      'open->half-open: pause over',
      'half-open->closed: 1 trials passed',
    ]);
    expect(events[0]).toEqual({ service: 's', endpoint: 'e', node: 'c', address: '127.0.0.1:2002', from: 'closed', to: 'open', reason: '1 consecutive failures' });
  });

  test('breakers are per endpoint: open for one endpoint, the node still serves the others', async () => {
    const { selector } = await selectorOver(three, { breaker: { consecutiveFailures: 2 } });
    await outcomes(selector, 'a', [fail, fail]);
    expect(await reachable(selector, { endpoint: 'e', strategy: 'roundrobin' })).toEqual(new Set(['b', 'c']));
    expect(await reachable(selector, { endpoint: 'other', strategy: 'roundrobin' })).toEqual(new Set(['a', 'b', 'c']));
    expect(await reachable(selector, { strategy: 'roundrobin' })).toEqual(new Set(['a', 'b', 'c']));
  });

  test('every node open for the endpoint: selection fails fast with a 503 instead of trying a broken node', async () => {
    const { selector } = await selectorOver(three, { breaker: { consecutiveFailures: 1 } });
    for (const id of ['a', 'b', 'c']) await outcomes(selector, id, [fail]);
    await expect(selector.select('s', E)).rejects.toMatchObject({ code: 503, id: 'phobos.selector', detail: 'circuit open for s.e on every node (3)' });
    expect(await reachable(selector, { endpoint: 'other' })).toEqual(new Set(['a', 'b', 'c']));
  });

  test('the hash strategy sends a key whose node is open to the next node, and back once it closes', async () => {
    const clock = manualClock();
    const { selector } = await selectorOver(three, { now: clock.now, breaker: { consecutiveFailures: 1, pause: 1000, halfOpenTrials: 1 } });
    const key = { endpoint: 'e', strategy: 'hash', key: 'user-42' };
    const walk = await nextOf(selector, key);
    const [home, second] = [walk()!, walk()!];
    selector.mark('s', second, undefined, { endpoint: 'e' });
    selector.mark('s', home, fail, { endpoint: 'e' });
    expect(await call(selector, key)).toBe(second.id);
    clock.advance(1000);
    expect(await call(selector, key)).toBe(home.id); // the trial, which succeeds
    expect(stateOf(selector, home.id)).toBe('closed');
    expect(await call(selector, key)).toBe(home.id);
  });

  test('state changes are logged: warn on open, info on half-open and close', async () => {
    const lines: { level: number; msg: string; node: string; endpoint: string }[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const clock = manualClock();
    const { selector } = await selectorOver(three, {
      now: clock.now,
      logger: pino({ level: 'info' }, sink),
      breaker: { consecutiveFailures: 1, pause: 10, halfOpenTrials: 1 },
    });
    await outcomes(selector, 'b', [fail]);
    clock.advance(10);
    await call(selector, { ...E, filters: [(ns) => ns.filter((n) => n.id === 'b')] });
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.level, l.node, l.endpoint])).toEqual([
      [40, 'b', 'e'],
      [30, 'b', 'e'],
      [30, 'b', 'e'],
    ]);
    expect(lines[0].msg).toMatch(/circuit breaker open/);
  });

  test('a node that leaves the registry is forgotten, breaker and all; one that joins starts closed', async () => {
    const { selector, registry, cache } = await selectorOver(three, { breaker: { consecutiveFailures: 1 } });
    await outcomes(selector, 'a', [fail]);
    await outcomes(selector, 'b', [undefined]);
    expect(selector.breakerStates().map((b) => `${b.node}:${b.state}`).sort()).toEqual(['a:open', 'b:closed']);
    for (let generation = 0; generation < 5; generation++) {
      const old = generation === 0 ? 'a' : `new${generation - 1}`;
      await registry.deregister({ name: 's', version: '1', metadata: {}, endpoints: [], nodes: [{ id: old, address: '', metadata: {} }] });
      await registry.register({ name: 's', version: '1', metadata: {}, endpoints: [], nodes: [{ id: `new${generation}`, address: `10.0.0.${generation}:1`, metadata: {} }] });
      await eventually(async () => (await cache.getService('s'))[0].nodes.some((n) => n.id === `new${generation}`) && (await cache.getService('s'))[0].nodes.length === 3);
      expect(await reachable(selector)).toEqual(new Set(['b', 'c', `new${generation}`]));
    }
    expect(selector.breakerStates().map((b) => `${b.node}:${b.state}`).sort()).toEqual(['b:closed', 'c:closed', 'new4:closed']);
  });

  test('breaker: false turns them off', async () => {
    const { selector } = await selectorOver(three, { breaker: false });
    await outcomes(selector, 'a', Array.from({ length: 50 }, () => fail));
    expect(selector.breakerStates()).toEqual([]);
    expect(await reachable(selector)).toEqual(new Set(['a', 'b', 'c']));
  });
});
