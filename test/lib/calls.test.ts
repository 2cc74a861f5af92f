import { IsInt, IsString, Min } from 'class-validator';
import { z } from 'zod';
import { Method, RpcError, Service, type Context } from '../../lib';
import { newNamespace, stopAll, testService } from '../helpers/services';

class CreateUser {
  @IsString()
  name!: string;

  @IsInt()
  @Min(0)
  age!: number;
}

@Service({ name: 'users', version: '2.0.0' })
class Users {
  calls = 0;
  received: unknown[] = [];

  @Method()
  async create(req: CreateUser): Promise<{ name: string; age: number; isDto: boolean }> {
    this.calls++;
    this.received.push(req);
    return { name: req.name, age: req.age, isDto: req instanceof CreateUser };
  }

  @Method({ request: z.object({ email: z.email(), tags: z.array(z.string()).max(2) }) })
  async tag(req: { email: string; tags: string[] }): Promise<number> {
    return req.tags.length;
  }

  @Method()
  async fail(): Promise<never> {
    this.calls++;
    throw new Error('database is on fire');
  }

  @Method()
  async refuse(): Promise<never> {
    throw new RpcError('users.refuse', 403, 'not yours');
  }

  @Method()
  async wait(req: { ms: number }, ctx: Context): Promise<string> {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve('finished'), req.ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        this.aborted.push(ctx.signal.reason?.name ?? 'abort');
        resolve('aborted');
      });
    });
  }
  aborted: string[] = [];

  @Method()
  async inspect(_req: unknown, ctx: Context): Promise<{ metadata: Record<string, string>; remaining: number }> {
    return { metadata: { ...ctx.metadata }, remaining: ctx.remaining() };
  }
}

@Service({ name: 'front' })
class Front {
  constructor(private readonly call: (svc: string, ep: string, req: unknown) => Promise<unknown>) {}

  @Method()
  async relay(_req: unknown): Promise<unknown> {
    return this.call('users', 'inspect', {});
  }
}

afterEach(stopAll);

async function startPair() {
  const namespace = newNamespace();
  const users = new Users();
  const server = testService({ name: 'users', namespace });
  server.handle(users);
  await server.start();
  const caller = testService({ name: 'caller', namespace });
  return { users, server, caller, client: caller.client.service<Users>('users') };
}

describe('calls between services over tcp', () => {
  test('a typed call reaches the handler and returns its reply', async () => {
    const { client, users } = await startPair();
    await expect(client.create({ name: 'ada', age: 36 })).resolves.toEqual({ name: 'ada', age: 36, isDto: true });
    expect(users.calls).toBe(1);
  });

  test('a DTO request is whitelisted: unknown fields never reach the handler', async () => {
    const { client, users } = await startPair();
    await client.create({ name: 'ada', age: 1, admin: true } as CreateUser);
    expect(users.received[0]).not.toHaveProperty('admin');
  });

  test('validation failure is a 400 naming each bad field, and the handler does not run', async () => {
    const { client, users } = await startPair();
    const err = await client.create({ name: 7, age: -1 } as unknown as CreateUser).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe(400);
    expect(err.issues.map((i: { path: string }) => i.path).sort()).toEqual(['age', 'name']);
    expect(users.calls).toBe(0);
  });

  test('a zod schema validates with paths into nested fields', async () => {
    const { client } = await startPair();
    await expect(client.tag({ email: 'a@b.co', tags: ['x'] })).resolves.toBe(1);
    const err = await client.tag({ email: 'nope', tags: ['a', 'b', 'c'] }).catch((e) => e);
    expect(err.code).toBe(400);
    expect(err.issues.map((i: { path: string }) => i.path).sort()).toEqual(['email', 'tags']);
  });

  test('a throwing handler is a 500 with its message, no stack, and is not retried', async () => {
    const { client, users } = await startPair();
    const err = await client.fail(undefined, { retries: 3 }).catch((e) => e);
    expect(err).toMatchObject({ code: 500, detail: 'database is on fire', status: 'Internal Server Error', id: 'users.fail' });
    expect(err.detail).not.toMatch(/at .*\.ts/);
    expect(users.calls).toBe(1);
  });

  test('dev mode puts the stack in the 500 detail', async () => {
    const namespace = newNamespace();
    const server = testService({ name: 'users', namespace, dev: true });
    server.handle(new Users());
    await server.start();
    const err = await testService({ namespace }).client.call<never>('users', 'fail').catch((e: RpcError) => e);
    expect(err.code).toBe(500);
    expect(err.detail).toMatch(/database is on fire\n\s+at /);
  });

  test('an RpcError thrown by a handler keeps its code', async () => {
    const { client } = await startPair();
    await expect(client.refuse()).rejects.toMatchObject({ code: 403, detail: 'not yours' });
  });

  test('unknown service and unknown endpoint are 404s', async () => {
    const { caller, server } = await startPair();
    await expect(caller.client.call('users', 'nope')).rejects.toMatchObject({ code: 404, detail: 'unknown endpoint users.nope' });
    // A node that does not serve the asked service (registry pointing at the wrong server) answers 404 too.
    await caller.registry.register({ name: 'ghost', version: '1', metadata: {}, endpoints: [], nodes: [{ id: 'g1', address: server.address!, metadata: {} }] });
    await expect(caller.client.call('ghost', 'x')).rejects.toMatchObject({ code: 404, detail: 'unknown service ghost' });
  });

  test('a service with no nodes is a 503', async () => {
    const { caller } = await startPair();
    await expect(caller.client.call('nobody', 'x')).rejects.toMatchObject({ code: 503 });
  });

  test('the deadline travels to the server: ctx.signal aborts there and the caller gets 408 on time', async () => {
    const { client, users } = await startPair();
    const started = Date.now();
    const err = await client.wait({ ms: 5000 }, { timeout: 150 }).catch((e) => e);
    const took = Date.now() - started;
    expect(err).toMatchObject({ code: 408 });
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1500);
    await expect(eventuallyValue(() => users.aborted.length)).resolves.toBe(1);
    const seen = await client.inspect({}, { timeout: 2000 });
    expect(seen.remaining).toBeGreaterThan(1000);
    expect(seen.remaining).toBeLessThanOrEqual(2000);
  });

  test('metadata flows into nested calls by itself, and the nested deadline is the parent one', async () => {
    const namespace = newNamespace();
    const users = testService({ name: 'users', namespace });
    users.handle(new Users());
    await users.start();
    const front = testService({ name: 'front', namespace });
    front.handle(new Front((s, e, r) => front.client.call(s, e, r)));
    await front.start();
    const caller = testService({ namespace });
    const out = (await caller.client.call('front', 'relay', {}, { metadata: { 'x-trace': 't-1', tenant: 'acme' }, timeout: 1500 })) as {
      metadata: Record<string, string>;
      remaining: number;
    };
    expect(out.metadata).toMatchObject({ 'x-trace': 't-1', tenant: 'acme' });
    expect(out.remaining).toBeLessThanOrEqual(1500);
  });

  test('json and msgpack callers are both served by one server', async () => {
    const { caller } = await startPair();
    await expect(caller.client.call('users', 'create', { name: 'j', age: 1 }, { codec: 'json' })).resolves.toMatchObject({ name: 'j' });
    await expect(caller.client.call('users', 'create', { name: 'm', age: 2 }, { codec: 'msgpack' })).resolves.toMatchObject({ name: 'm' });
  });

  test('a transport failure is retried on another node; retries=0 fails fast with 503', async () => {
    const { server } = await startPair();
    const dead = { id: 'dead', address: '127.0.0.1:1', metadata: {} };
    const twoNodes = async () => {
      const caller = testService({ namespace: newNamespace() });
      const nodes = [{ id: 'live', address: server.address!, metadata: {} }, dead];
      await caller.registry.register({ name: 'users', version: '2.0.0', metadata: {}, endpoints: [], nodes });
      return caller;
    };
    // Round-robin sends the second call to the dead node first: with one retry it lands on the live one.
    const retrying = await twoNodes();
    const calls = [0, 1].map(() => () => retrying.client.call('users', 'create', { name: 'r', age: 1 }, { retries: 1, strategy: 'roundrobin' }));
    for (const call of calls) await expect(call()).resolves.toMatchObject({ name: 'r' });

    const failFast = await twoNodes();
    const results = [];
    for (let i = 0; i < 2; i++) {
      results.push(await failFast.client.call('users', 'create', { name: 'r', age: 1 }, { retries: 0, strategy: 'roundrobin' }).catch((e) => e.code));
    }
    expect(results).toEqual([{ name: 'r', age: 1, isDto: true }, 503]);
  });

  test('stop drains: an in-flight call completes, then new calls are refused', async () => {
    const { client, server } = await startPair();
    const inflight = client.wait({ ms: 200 });
    await eventuallyValue(() => server.server.inFlight);
    const stopping = server.stop();
    await expect(inflight).resolves.toBe('finished');
    await stopping;
    await expect(client.wait({ ms: 1 }, { retries: 0 })).rejects.toMatchObject({ code: 503 });
  });

  test('the registry record carries endpoint JSON Schemas from DTOs and zod', async () => {
    const { caller } = await startPair();
    const [record] = await caller.registry.getService('users');
    expect(record.version).toBe('2.0.0');
    const create = record.endpoints.find((e) => e.name === 'create')!;
    expect(create.request).toMatchObject({ type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } }, required: ['name', 'age'] });
    const tag = record.endpoints.find((e) => e.name === 'tag')!;
    expect(tag.request).toMatchObject({ type: 'object', properties: { email: { type: 'string', format: 'email' }, tags: { type: 'array', maxItems: 2 } } });
  });
});

async function eventuallyValue<T>(get: () => T, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}
