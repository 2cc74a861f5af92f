import { createService, type PhobosService } from '../../lib';
import { Child, eventually, killAll, uniqueName } from '../helpers/process';

/** Services in real child processes, found through the default mDNS registry on loopback. */

let caller: PhobosService;
beforeAll(() => {
  caller = createService({ name: uniqueName('caller'), argv: [], env: {}, logLevel: 'silent' });
});
afterAll(async () => {
  await caller.stop();
});
afterEach(killAll);

function fixture(name: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): Child {
  return new Child('test/fixtures/service-process.js', args, { FIXTURE_NAME: name, ...env });
}

describe('services in separate processes', () => {
  test('a fresh process finds a service through the default registry and calls it', async () => {
    const name = uniqueName('echo');
    const server = fixture(name);
    await server.waitFor(/^READY/);
    const reply = await caller.client.call(name, 'echo', { hello: 'world', n: [1, 2, 3] });
    expect(reply).toEqual({ hello: 'world', n: [1, 2, 3] });
    expect(await caller.client.call(name, 'whoami')).toEqual({ pid: server.proc.pid, name });
  });

  test('SIGTERM: the service deregisters, finishes the in-flight call, and exits 0', async () => {
    const name = uniqueName('drain');
    const server = fixture(name);
    await server.waitFor(/^READY/);
    const inflight = caller.client.call(name, 'slow', { ms: 400 }, { timeout: 5000 });
    // Make sure the request reached the handler before signalling.
    await eventually(async () => (await caller.client.call(name, 'echo', 1)) === 1);
    server.kill('SIGTERM');
    await expect(inflight).resolves.toEqual({ done: true });
    expect(await server.exit()).toEqual({ code: 0, signal: null });
    await eventually(async () => (await caller.registry.getService(name)).length === 0, 3000);
  });

  test('SIGINT stops the service the same way', async () => {
    const name = uniqueName('sigint');
    const server = fixture(name);
    await server.waitFor(/^READY/);
    server.kill('SIGINT');
    expect(await server.exit()).toEqual({ code: 0, signal: null });
  });

  test('the deadline reaches the handler in the other process, which aborts its work', async () => {
    const name = uniqueName('deadline');
    const server = fixture(name);
    await server.waitFor(/^READY/);
    await caller.client.call(name, 'echo', 'warm the lookup and the connection');
    await expect(caller.client.call(name, 'slow', { ms: 10_000 }, { timeout: 300 })).rejects.toMatchObject({ code: 408 });
    await server.waitFor(/^ABORTED (deadline|cancel)$/, 3000);
  });

  test('a crashing handler is a 500 to that caller only; the server keeps serving', async () => {
    const name = uniqueName('crash');
    const server = fixture(name);
    await server.waitFor(/^READY/);
    const [crash, echo] = await Promise.allSettled([caller.client.call(name, 'crash'), caller.client.call(name, 'echo', 'still here')]);
    expect(crash).toMatchObject({ status: 'rejected', reason: { code: 500, detail: 'boom' } });
    expect(echo).toEqual({ status: 'fulfilled', value: 'still here' });
  });

  test('events reach subscribers in other processes: fan-out to each, one per queue group', async () => {
    const topic = uniqueName('topic');
    const fan = fixture(uniqueName('fan'), { FIXTURE_TOPIC: topic });
    const q1 = fixture(uniqueName('q'), { FIXTURE_TOPIC: topic, FIXTURE_QUEUE: 'g' });
    const q2 = fixture(uniqueName('q'), { FIXTURE_TOPIC: topic, FIXTURE_QUEUE: 'g' });
    await Promise.all([fan, q1, q2].map((c) => c.waitFor(/^READY/)));
    const N = 10;
    for (let i = 0; i < N; i++) await caller.publish(topic, { i });
    const events = (c: Child) => c.lines.filter((l) => l.startsWith('EVENT ')).map((l) => JSON.parse(l.slice(6)).event.i);
    await eventually(() => events(fan).length === N && events(q1).length + events(q2).length === N, 5000);
    expect(events(fan)).toEqual([...Array(N).keys()]);
    expect([...events(q1), ...events(q2)].sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
  });

  test('flags choose the parts: --codec=json --selector=roundrobin still round-trips', async () => {
    const name = uniqueName('flags');
    const server = fixture(name, {}, ['--codec=json', '--selector=roundrobin']);
    await server.waitFor(/^READY/);
    const jsonCaller = createService({ name: uniqueName('jc'), argv: ['--codec=json'], env: {}, logLevel: 'silent' });
    try {
      await expect(jsonCaller.client.call(name, 'echo', { a: 1 })).resolves.toEqual({ a: 1 });
    } finally {
      await jsonCaller.stop();
    }
  });

  test.each([
    [['--registry=nope'], /^phobos: unknown registry "nope" \(available: etcd, mdns, memory, nats, redis\)$/],
    [['--transport=smoke'], /^phobos: unknown transport "smoke" \(available: grpc, memory, nats, tcp\)$/],
    [['--client_request_timeout=forever'], /^phobos: --client_request_timeout: "forever" is not a duration/],
    [['--server_address=127.0.0.1:99999'], /^phobos: --server_address: port "99999" in "127.0.0.1:99999" is out of range/],
  ])('bad flag %j: one line on stderr, exit code 1', async (args, message) => {
    const server = fixture(uniqueName('bad'), {}, args);
    expect(await server.exit()).toEqual({ code: 1, signal: null });
    expect(server.errLines.filter((l) => l.trim())).toHaveLength(1);
    expect(server.errLines[0]).toMatch(message);
  });

  test('an env twin is honoured: PHOBOS_REGISTRY=bogus fails the same way', async () => {
    const server = fixture(uniqueName('env'), { PHOBOS_REGISTRY: 'bogus' });
    expect(await server.exit()).toEqual({ code: 1, signal: null });
    expect(server.errLines[0]).toMatch(/^phobos: PHOBOS_REGISTRY|unknown registry "bogus"/);
  });
});
