import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { ConfigError, Method, RpcError, Service, createService } from '../../lib';
import { metricsListenAddress } from '../../lib/observe/metrics-server';
import { join } from 'node:path';
import { DIST, uniqueName } from '../helpers/process';
import { newNamespace, stopAll, testService } from '../helpers/services';
import { parseExposition, scrape } from './exposition';

/** Breakers, the cardinality cap, in-process calls, metrics off, and the --metrics_address forms. */

const NAME = uniqueName('edges');

@Service({ name: NAME })
class Edges {
  failing = false;

  @Method()
  async work(): Promise<string> {
    if (this.failing) throw new Error('down');
    return 'ok';
  }
}

afterEach(stopAll);

test('a breaker opening is counted once, by called service and new state, and the breakers gauge shows it open', async () => {
  const namespace = newNamespace();
  const handler = new Edges();
  await testService({ name: NAME, namespace }).handle(handler).start();
  const caller = testService({ name: 'caller', namespace, metrics: true, breaker: { consecutiveFailures: 3, pause: 60_000 } });
  await caller.start();
  handler.failing = true;
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push(await caller.client.call(NAME, 'work').then(() => 200, (e: RpcError) => e.code));
  // Three 500s open the breaker; the node is then out of selection and the calls fail with 503 before any attempt.
  expect(codes).toEqual([500, 500, 500, 503, 503]);
  const m = parseExposition(await caller.metrics!.metrics());
  expect(m.get('rpc_breaker_transitions_total', { rpc_service: NAME, to: 'open' })).toBe(1);
  expect(m.get('rpc_breaker_transitions_total', { rpc_service: NAME, to: 'closed' })).toBeUndefined();
  expect(m.get('rpc_breakers', { rpc_service: NAME, state: 'open' })).toBe(1);
  expect(m.get('rpc_breakers', { rpc_service: NAME, state: 'closed' })).toBe(0);
  expect(m.get('rpc_client_call_duration_seconds_count', { rpc_method: `${NAME}/work`, code: '500' })).toBe(3);
  expect(m.get('rpc_client_call_duration_seconds_count', { rpc_method: `${NAME}/work`, code: '503' })).toBe(2);
});

test('client rpc_method and topic labels are capped; past the cap everything is counted as other', async () => {
  const namespace = newNamespace();
  await testService({ name: NAME, namespace }).handle(new Edges()).start();
  const caller = testService({ name: 'caller', namespace, metrics: { labelLimit: 3, processMetrics: false } });
  await caller.start();
  // 5 distinct endpoints (two of them unknown to the server: 404), twice each.
  const endpoints = ['work', 'a', 'b', 'c', 'd'];
  for (const round of [1, 2]) {
    for (const e of endpoints) await caller.client.call(NAME, e).catch(() => round);
  }
  for (let i = 0; i < 5; i++) await caller.publish(`${NAME}.topic${i}`, { i });
  const m = parseExposition(await caller.metrics!.metrics());
  const methods = m.labelValues('rpc_client_call_duration_seconds_count', 'rpc_method').sort();
  expect(methods).toEqual([`${NAME}/a`, `${NAME}/b`, `${NAME}/work`, 'other'].sort());
  expect(m.get('rpc_client_call_duration_seconds_count', { rpc_method: `${NAME}/work`, code: '200' })).toBe(2);
  expect(m.get('rpc_client_call_duration_seconds_count', { rpc_method: `${NAME}/a`, code: '404' })).toBe(2);
  expect(m.get('rpc_client_call_duration_seconds_count', { rpc_method: 'other', code: '404' })).toBe(4);
  expect(m.sum('rpc_client_call_duration_seconds_count')).toBe(10);
  expect(m.labelValues('broker_published_total', 'topic').sort()).toEqual([`${NAME}.topic0`, `${NAME}.topic1`, `${NAME}.topic2`, 'other']);
  expect(m.get('broker_published_total', { topic: 'other', code: '200' })).toBe(2);
  // processMetrics: false leaves the defaults out.
  expect(m.get('process_cpu_user_seconds_total')).toBeUndefined();
});

test('odd handler codes are bounded too: a code outside 100-599 is code="other"', async () => {
  @Service({ name: `${NAME}-odd` })
  class Odd {
    @Method()
    async weird(): Promise<never> {
      throw new RpcError('odd', 12345, 'made up');
    }
  }
  const service = testService({ name: `${NAME}-odd`, metrics: true }).handle(new Odd());
  await service.start();
  await expect(service.client.call(`${NAME}-odd`, 'weird')).rejects.toMatchObject({ code: 12345 });
  const m = parseExposition(await service.metrics!.metrics());
  expect(m.get('rpc_server_call_duration_seconds_count', { rpc_method: `${NAME}-odd/weird`, code: 'other' })).toBe(1);
});

test('in-process calls are measured on both sides', async () => {
  const service = testService({ name: NAME, metrics: true }).handle(new Edges());
  await service.start();
  for (let i = 0; i < 4; i++) await service.client.call(NAME, 'work');
  const m = parseExposition(await service.metrics!.metrics());
  expect(m.get('rpc_server_call_duration_seconds_count', { rpc_method: `${NAME}/work`, code: '200' })).toBe(4);
  expect(m.get('rpc_client_call_duration_seconds_count', { rpc_method: `${NAME}/work`, code: '200' })).toBe(4);
});

test('metrics off: no registry, no meter, no wrapper composed, nothing listening', async () => {
  const service = testService({ name: NAME }).handle(new Edges());
  await service.start();
  expect(service.metrics).toBeUndefined();
  expect(service.metricsAddress).toBeUndefined();
  const off = service.server.localEndpoint(NAME, 'work')!;
  expect(off.meter).toBeUndefined();
  const on = testService({ name: NAME, metrics: true }).handle(new Edges());
  const measured = on.server.localEndpoint(NAME, 'work')!;
  // A unary method is timed by its meter, which the server calls: the handler chain itself is the same as off.
  expect(measured.meter).toBeDefined();
  expect(measured.invoke.name).toBe(off.invoke.name);
  expect(on.metricsAddress).toBeUndefined(); // metrics: true collects without serving
});

test('prom-client is loaded only once a service turns metrics on (a fresh process, compiled lib)', () => {
  const script = `
    const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/prom-client/'));
    const { createService } = require(${JSON.stringify(join(DIST, 'lib'))});
    const seen = [loaded()];
    const base = { registry: 'memory', broker: 'memory', argv: [], env: {}, exitOnConfigError: false };
    createService({ ...base, name: 'plain' });
    seen.push(loaded());
    createService({ ...base, name: 'measured', metrics: true });
    seen.push(loaded());
    console.log(JSON.stringify(seen));`;
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 });
  expect(JSON.parse(out.trim())).toEqual([false, false, true]);
});

test('/metrics is gone once the service stops', async () => {
  const service = testService({ name: NAME, argv: ['--metrics_address=127.0.0.1:0'] }).handle(new Edges());
  await service.start();
  const address = service.metricsAddress!;
  expect((await scrape(address)).types.get('rpc_server_call_duration_seconds')).toBe('histogram');
  await service.stop();
  await expect(get(address)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
});

test('--metrics_address: a bare port binds 127.0.0.1; a bad one fails at createService', () => {
  expect(metricsListenAddress('9100')).toEqual({ host: '127.0.0.1', port: 9100 });
  expect(metricsListenAddress(':9100')).toEqual({ host: '127.0.0.1', port: 9100 });
  expect(metricsListenAddress('0.0.0.0:9100')).toEqual({ host: '0.0.0.0', port: 9100 });
  expect(metricsListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
  expect(() => metricsListenAddress('http://x:1/metrics')).toThrow(ConfigError);
  expect(() => createService({ name: 'x', argv: ['--metrics_address=localhost'], env: {}, exitOnConfigError: false })).toThrow(/metrics_address.*"localhost"/);
  expect(() => createService({ name: 'x', argv: [], env: { PHOBOS_METRICS_ADDRESS: '70000' }, exitOnConfigError: false })).toThrow(/out of range|not a port/);
});

test('the env twin PHOBOS_METRICS_ADDRESS given only a port serves on 127.0.0.1', async () => {
  const port = await freePort();
  const service = testService({ name: NAME, env: { PHOBOS_METRICS_ADDRESS: String(port) } }).handle(new Edges());
  await service.start();
  expect(service.metricsAddress).toBe(`127.0.0.1:${port}`);
  expect((await scrape(service.metricsAddress!)).types.get('rpc_client_retries_total')).toBe('counter');
});

function get(address: string): Promise<number> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path: '/metrics', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

@Service({ name: `${NAME}-streams` })
class Ticks {
  @Method({ stream: 'server' })
  async *ticks(req: { n: number }): AsyncGenerator<number> {
    for (let i = 0; i < req.n; i++) yield i;
  }

  @Method()
  async plain(): Promise<string> {
    return 'ok';
  }
}

test('unary methods are timed by the server, streaming ones by the wrapper: each call counted once', async () => {
  const namespace = newNamespace();
  const server = testService({ name: `${NAME}-streams`, namespace, metrics: true }).handle(new Ticks());
  await server.start();
  const caller = testService({ namespace, preferLocal: false });
  await caller.start();
  for (let i = 0; i < 3; i++) {
    const got: number[] = [];
    for await (const t of await caller.client.call<AsyncIterable<number>>(`${NAME}-streams`, 'ticks', { n: 4 })) got.push(t);
    expect(got).toEqual([0, 1, 2, 3]);
  }
  for (let i = 0; i < 5; i++) await caller.client.call(`${NAME}-streams`, 'plain');
  const m = parseExposition(await server.metrics!.metrics());
  expect(m.get('rpc_server_call_duration_seconds_count', { rpc_method: `${NAME}-streams/ticks`, code: '200' })).toBe(3);
  expect(m.get('rpc_server_call_duration_seconds_count', { rpc_method: `${NAME}-streams/plain`, code: '200' })).toBe(5);
  expect(m.get('rpc_server_in_flight', { rpc_method: `${NAME}-streams/plain` })).toBe(0);
});
