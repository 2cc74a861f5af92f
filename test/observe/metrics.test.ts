import { createServer } from 'node:net';
import { Method, RpcError, Service, Subscribe, errors, type PhobosService } from '../../lib';
import { eventually, uniqueName } from '../helpers/process';
import { newNamespace, stopAll, testService } from '../helpers/services';
import { httpGet, scrape, type Exposition } from './exposition';

/**
 * Metrics over real sockets: a server and a caller, both with --metrics_address on 127.0.0.1 port 0, calls over tcp,
 * then GET /metrics and the exposition text parsed. Every count is compared with the calls actually made.
 */

const SERVED = uniqueName('metered');
const TOPIC = uniqueName('metered.events');

@Service({ name: SERVED })
class Metered {
  @Method()
  async ok(req: { n: number }): Promise<{ n: number }> {
    return req;
  }

  @Method()
  async forbidden(): Promise<never> {
    throw new RpcError('metered.forbidden', 403, 'not for you');
  }

  @Method()
  async crash(): Promise<never> {
    throw new Error('handler bug');
  }

  @Method()
  async slow(req: { ms: number }): Promise<string> {
    await new Promise((r) => setTimeout(r, req.ms));
    return 'late';
  }

  @Subscribe(TOPIC)
  async onEvent(event: { fail?: boolean }): Promise<void> {
    if (event.fail) throw errors.badRequest('metered.onEvent', 'refused');
  }
}

const METRICS_ON = ['--metrics_address=127.0.0.1:0'];
let server: PhobosService;
let caller: PhobosService;
const namespace = newNamespace();

beforeAll(async () => {
  server = testService({ name: SERVED, namespace, argv: METRICS_ON });
  server.handle(new Metered());
  await server.start();
  caller = testService({ name: uniqueName('caller'), namespace, argv: METRICS_ON, breaker: false });
  await caller.start();
});
afterAll(stopAll);

const method = (endpoint: string) => `${SERVED}/${endpoint}`;

/** The difference between two scrapes for one series (a series absent from a scrape counts as 0). */
function moved(before: Exposition, after: Exposition, name: string, labels: Record<string, string>): number {
  return (after.get(name, labels) ?? 0) - (before.get(name, labels) ?? 0);
}

test('/metrics serves both sides: counts by rpc_method and code move by exactly the calls made', async () => {
  const [s0, c0] = await Promise.all([scrape(server.metricsAddress!), scrape(caller.metricsAddress!)]);
  const client = caller.client;
  const results = await Promise.allSettled([
    ...Array.from({ length: 7 }, (_, n) => client.call(SERVED, 'ok', { n })),
    ...Array.from({ length: 3 }, () => client.call(SERVED, 'forbidden', {})),
    ...Array.from({ length: 2 }, () => client.call(SERVED, 'crash', {})),
    client.call(SERVED, 'slow', { ms: 300 }, { timeout: 60 }),
  ]);
  const codes = results.map((r) => (r.status === 'fulfilled' ? 200 : (r.reason as RpcError).code));
  expect(codes).toEqual([...Array(7).fill(200), 403, 403, 403, 500, 500, 408]);
  // The slow handler finishes 300 ms in, past its 60 ms deadline: the server counts it once it has ended.
  const s1 = (await eventually(async () => {
    const s = await scrape(server.metricsAddress!);
    return moved(s0, s, 'rpc_server_call_duration_seconds_count', { rpc_method: method('slow'), code: '408' }) === 1 && s;
  })) as Exposition;
  const c1 = await scrape(caller.metricsAddress!);

  const expected: [string, string, number][] = [
    ['ok', '200', 7],
    ['forbidden', '403', 3],
    ['crash', '500', 2],
    ['slow', '408', 1],
  ];
  for (const side of ['server', 'client'] as const) {
    const [before, after] = side === 'server' ? [s0, s1] : [c0, c1];
    const name = `rpc_${side}_call_duration_seconds`;
    for (const [endpoint, code, n] of expected) {
      const labels = { rpc_method: method(endpoint), code };
      expect([side, endpoint, code, moved(before, after, `${name}_count`, labels)]).toEqual([side, endpoint, code, n]);
      // Every observation lands in exactly one bucket: +Inf holds them all.
      expect(moved(before, after, `${name}_bucket`, { ...labels, le: '+Inf' })).toBe(n);
    }
    // No other code appeared for these methods.
    expect(after.sum(`${name}_count`) - before.sum(`${name}_count`)).toBe(13);
    expect(after.types.get(name)).toBe('histogram');
  }
  // The slow call took at least its 60 ms deadline on the client, at least the 300 ms sleep on the server.
  expect(moved(c0, c1, 'rpc_client_call_duration_seconds_sum', { rpc_method: method('slow'), code: '408' })).toBeGreaterThanOrEqual(0.055);
  expect(moved(s0, s1, 'rpc_server_call_duration_seconds_sum', { rpc_method: method('slow'), code: '408' })).toBeGreaterThanOrEqual(0.29);
  expect(moved(s0, s1, 'rpc_server_call_duration_seconds_bucket', { rpc_method: method('slow'), code: '408', le: '0.1' })).toBe(0);
  expect(moved(s0, s1, 'rpc_server_call_duration_seconds_bucket', { rpc_method: method('slow'), code: '408', le: '0.5' })).toBe(1);

  expect(moved(c0, c1, 'rpc_client_timeouts_total', { rpc_method: method('slow') })).toBe(1);
  expect(moved(c0, c1, 'rpc_client_timeouts_total', { rpc_method: method('ok') })).toBe(0);
  expect(moved(c0, c1, 'rpc_client_retries_total', { rpc_method: method('ok') })).toBe(0);
  // Nothing in flight once every call has settled.
  expect(c1.sum('rpc_client_in_flight')).toBe(0);
  expect(s1.sum('rpc_server_in_flight')).toBe(0);
  // The process defaults are there too.
  expect(s1.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
  expect(s1.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
});

test('in-flight gauges count calls being handled right now', async () => {
  const pending = Array.from({ length: 4 }, () => caller.client.call(SERVED, 'slow', { ms: 400 }, { timeout: 5000 }));
  const during = (await eventually(async () => {
    const s = await scrape(server.metricsAddress!);
    return s.get('rpc_server_in_flight', { rpc_method: method('slow') }) === 4 && s;
  })) as Exposition;
  expect(during.get('rpc_server_in_flight', { rpc_method: method('ok') })).toBe(0);
  const c = await scrape(caller.metricsAddress!);
  expect(c.get('rpc_client_in_flight', { rpc_method: method('slow') })).toBe(4);
  await Promise.all(pending);
  expect((await scrape(caller.metricsAddress!)).get('rpc_client_in_flight', { rpc_method: method('slow') })).toBe(0);
  expect((await scrape(server.metricsAddress!)).get('rpc_server_in_flight', { rpc_method: method('slow') })).toBe(0);
});

test('retries through a dead node are counted per attempt, and the call once', async () => {
  // A service whose only node is a port nothing listens on: every attempt is refused (503, retryable).
  const dead = await closedPort();
  const ghost = uniqueName('ghost');
  await caller.registry.register({ name: ghost, version: '1', metadata: {}, endpoints: [], nodes: [{ id: `${ghost}-1`, address: dead, metadata: {} }] });
  const before = await scrape(caller.metricsAddress!);
  const outcomes: number[] = [];
  for (let i = 0; i < 3; i++) {
    outcomes.push(await caller.client.call(ghost, 'any', {}, { failMode: 'failtry', retries: 2 }).then(() => 200, (e: RpcError) => e.code));
  }
  expect(outcomes).toEqual([503, 503, 503]);
  const after = await scrape(caller.metricsAddress!);
  const labels = { rpc_method: `${ghost}/any` };
  expect(moved(before, after, 'rpc_client_retries_total', labels)).toBe(6);
  expect(moved(before, after, 'rpc_client_call_duration_seconds_count', { ...labels, code: '503' })).toBe(3);
});

test('broker counters: published by the caller, consumed by the subscriber, by topic and code', async () => {
  const [s0, c0] = await Promise.all([scrape(server.metricsAddress!), scrape(caller.metricsAddress!)]);
  // The memory broker resolves a publish once the subscribers have run, and swallows their failures.
  for (let i = 0; i < 5; i++) await caller.publish(TOPIC, { n: i });
  for (let i = 0; i < 2; i++) await caller.publish(TOPIC, { fail: true });
  const [s1, c1] = await Promise.all([scrape(server.metricsAddress!), scrape(caller.metricsAddress!)]);
  expect(moved(c0, c1, 'broker_published_total', { topic: TOPIC, code: '200' })).toBe(7);
  expect(moved(s0, s1, 'broker_consumed_total', { topic: TOPIC, code: '200' })).toBe(5);
  expect(moved(s0, s1, 'broker_consumed_total', { topic: TOPIC, code: '400' })).toBe(2);
  // The subscriber is not an rpc_method.
  expect(s1.labelValues('rpc_server_call_duration_seconds_count', 'rpc_method')).not.toContain(`${SERVED}/${TOPIC}`);
});

test('the metrics endpoint answers only GET/HEAD /metrics', async () => {
  const address = server.metricsAddress!;
  expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
  expect((await httpGet(address, '/')).status).toBe(404);
  expect((await httpGet(address, '/metricsx')).status).toBe(404);
  const post = await httpGet(address, '/metrics', 'POST');
  expect(post.status).toBe(405);
  expect(post.headers.allow).toBe('GET, HEAD');
  const head = await httpGet(address, '/metrics?x=1', 'HEAD');
  expect(head.status).toBe(200);
  expect(head.body).toBe('');
});

test('two services in one process keep separate registries', async () => {
  expect(server.metrics).toBeDefined();
  expect(caller.metrics).toBeDefined();
  expect(server.metrics).not.toBe(caller.metrics);
  const callerText = await caller.metrics!.metrics();
  // The caller serves nothing: its server histogram has no series at all.
  expect(callerText).not.toMatch(/^rpc_server_call_duration_seconds_count/m);
});

test('failover past a dead node: one retry, and the call counted once, as a success', async () => {
  // A second node for the served service that refuses connections; round-robin reaches it within two calls, after
  // which its cool-down keeps it out of selection.
  const dead = { id: `${SERVED}-dead`, address: await closedPort(), metadata: {} };
  const record = { name: SERVED, version: 'latest', metadata: {}, endpoints: [], nodes: [dead] };
  await caller.registry.register(record);
  try {
    const attempts: number[] = [];
    const failover = testService({
      name: uniqueName('failover'),
      namespace,
      argv: METRICS_ON,
      selector: 'roundrobin',
      breaker: false,
      callWrappers: [(next) => (a) => (attempts.push(a.attempt), next(a))],
    });
    await failover.start();
    const before = await scrape(failover.metricsAddress!);
    for (let n = 0; n < 6; n++) await expect(failover.client.call(SERVED, 'ok', { n }, { retries: 1 })).resolves.toEqual({ n });
    const after = await scrape(failover.metricsAddress!);
    expect(attempts.filter((a) => a > 0)).toHaveLength(1);
    expect(attempts).toHaveLength(7);
    expect(moved(before, after, 'rpc_client_retries_total', { rpc_method: method('ok') })).toBe(1);
    expect(moved(before, after, 'rpc_client_call_duration_seconds_count', { rpc_method: method('ok'), code: '200' })).toBe(6);
    expect(after.sum('rpc_client_call_duration_seconds_count') - before.sum('rpc_client_call_duration_seconds_count')).toBe(6);
  } finally {
    await caller.registry.deregister(record);
  }
});

async function closedPort(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return `127.0.0.1:${port}`;
}
