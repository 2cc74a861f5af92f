import { createServer } from 'node:http';
import { z } from 'zod';
import { Method, Service } from '../../../lib';
import { attachGateway, createGateway } from '../../../plugins/http';
import { newNamespace, testService } from '../../helpers/services';
import { call, closeAll, startFixture } from './helpers';

/** The gateway's own routes over real HTTP: /openapi.json, /health, /ready, CORS, embedding and lifecycle. */

afterEach(closeAll);

const Tree: z.ZodType<{ name: string; children: unknown[] }> = z.lazy(() => z.object({ name: z.string(), children: z.array(Tree) }));

@Service({ name: 'trees' })
class Trees {
  @Method({ request: z.object({ root: Tree }) })
  async plant(req: unknown): Promise<unknown> {
    return req;
  }
}

describe('openapi.json', () => {
  test('one POST path per callable endpoint with the zod and DTO schemas, a shared Error schema, and /rpc', async () => {
    const { call } = await startFixture();
    const r = await call({ method: 'GET', path: '/openapi.json' });
    expect(r.status).toBe(200);
    const doc = r.json;
    expect(doc.openapi).toBe('3.1.0');
    const paths = Object.keys(doc.paths);
    expect(paths).toEqual(expect.arrayContaining(['/gw/echo', '/gw/greet', '/gw/signUp', '/gw/count', '/rpc', '/health', '/ready']));
    // The subscriber is not a path, and no broker topic record is either.
    expect(paths.some((p) => p.includes('gw.events') || p.includes('phobos.topic'))).toBe(false);

    const schemaOf = (ref: { $ref: string }) => doc.components.schemas[ref.$ref.replace('#/components/schemas/', '')];
    const greet = doc.paths['/gw/greet'].post;
    expect(greet.operationId).toBe('gw.greet');
    const greetReq = schemaOf(greet.requestBody.content['application/json'].schema);
    expect(greetReq.type).toBe('object');
    expect(Object.keys(greetReq.properties).sort()).toEqual(['name', 'times']);
    expect(greetReq.required).toEqual(['name']);
    expect(greetReq.properties.name).toMatchObject({ type: 'string', minLength: 1 });
    expect(schemaOf(greet.responses['200'].content['application/json'].schema).properties.message.type).toBe('string');

    const signUp = schemaOf(doc.paths['/gw/signUp'].post.requestBody.content['application/json'].schema);
    expect(Object.keys(signUp.properties).sort()).toEqual(['age', 'email', 'nickname']);
    expect(signUp.required.sort()).toEqual(['age', 'email']);
    expect(signUp.properties.email).toMatchObject({ type: 'string', format: 'email' });
    expect(signUp.properties.age).toMatchObject({ type: 'integer', minimum: 18 });

    for (const status of ['400', '404', '413', '429', '500', '503', '504']) {
      expect(greet.responses[status]).toEqual({ $ref: '#/components/responses/Error' });
    }
    expect(doc.components.responses.Error.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(doc.components.schemas.Error.required).toEqual(['id', 'code', 'detail']);
    expect(doc.paths['/gw/count'].post.responses['200'].content).toHaveProperty('text/event-stream');
    expect(doc.paths['/rpc'].post.requestBody.content['application/json'].schema.oneOf).toHaveLength(2);
  });

  test('a recursive schema\'s $defs are hoisted into components and every $ref resolves', async () => {
    const namespace = newNamespace();
    const server = testService({ name: 'trees', namespace });
    server.handle(new Trees());
    await server.start();
    const gw = createGateway(server);
    const http = createServer(gw.handler);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const port = (http.address() as { port: number }).port;
      const doc = (await call(`127.0.0.1:${port}`, { method: 'GET', path: '/openapi.json' })).json;
      const refs: string[] = [];
      const walk = (n: unknown): void => {
        if (Array.isArray(n)) return n.forEach(walk);
        if (typeof n !== 'object' || n === null) return;
        const o = n as Record<string, unknown>;
        if (typeof o.$ref === 'string') refs.push(o.$ref);
        Object.values(o).forEach(walk);
      };
      walk(doc);
      expect(refs.length).toBeGreaterThan(3);
      for (const ref of refs) {
        const target = ref
          .slice(2)
          .split('/')
          .reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], doc);
        expect({ ref, found: target !== undefined }).toEqual({ ref, found: true });
      }
      expect(JSON.stringify(doc)).not.toContain('#/$defs');
      // zod writes the recursion as a $def: it now lives beside the request schema.
      const hoisted = Object.keys(doc.components.schemas).filter((k) => k.startsWith('trees.plant.Request.'));
      expect(hoisted.length).toBeGreaterThan(0);
      expect(refs).toContain(`#/components/schemas/${hoisted[0]}`);
    } finally {
      await gw.close();
      await new Promise((resolve) => http.close(resolve));
    }
  });
});

describe('health and readiness', () => {
  test('/health is 200 while alive; /ready follows the service and the registry', async () => {
    const namespace = newNamespace();
    const front = testService({ name: 'gateway', namespace });
    const gw = createGateway(front);
    const http = createServer(gw.handler);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(http.address() as { port: number }).port}`;
    try {
      expect(await call(address, { method: 'GET', path: '/health' })).toMatchObject({ status: 200, json: { status: 'ok' } });
      // Not started yet.
      expect((await call(address, { method: 'GET', path: '/ready' })).status).toBe(503);
      await front.start();
      expect(await call(address, { method: 'GET', path: '/ready' })).toMatchObject({ status: 200, json: { status: 'ready' } });
      expect((await call(address, { method: 'HEAD', path: '/ready' })).status).toBe(200);
      // A registry that does not answer.
      const registry = front.registry as { getService: (name: string) => Promise<unknown> };
      const original = registry.getService;
      registry.getService = () => Promise.reject(new Error('registry down'));
      try {
        expect(await call(address, { method: 'GET', path: '/ready' })).toMatchObject({ status: 503, json: { status: 'registry unavailable', detail: 'registry down' } });
      } finally {
        registry.getService = original;
      }
      await front.stop();
      expect((await call(address, { method: 'GET', path: '/ready' })).status).toBe(503);
      expect((await call(address, { method: 'GET', path: '/health' })).status).toBe(200);
    } finally {
      await gw.close();
      await new Promise((resolve) => http.close(resolve));
    }
  });
});

describe('CORS', () => {
  test('off by default: no Access-Control headers, OPTIONS is just Allow', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/gw/echo', body: {}, headers: { origin: 'https://app.example' } });
    expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const pre = await call({ method: 'OPTIONS', path: '/gw/echo', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.allow).toBe('GET, POST, OPTIONS');
    expect(Object.keys(pre.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  test('listed origins: preflight answered with methods and the asked headers, others refused', async () => {
    const { call } = await startFixture({ gateway: { cors: { origins: ['https://app.example'], credentials: true } } });
    const pre = await call({
      method: 'OPTIONS',
      path: '/gw/echo',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-phobos-tenant' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'content-type, x-phobos-tenant',
      vary: 'Origin',
    });
    const actual = await call({ path: '/gw/echo', body: { a: 1 }, headers: { origin: 'https://app.example' } });
    expect(actual.headers).toMatchObject({ 'access-control-allow-origin': 'https://app.example', 'access-control-expose-headers': 'x-request-id' });
    expect(actual.json).toEqual({ a: 1 });

    const evil = await call({ method: 'OPTIONS', path: '/gw/echo', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const evilCall = await call({ path: '/gw/echo', body: {}, headers: { origin: 'https://evil.example' } });
    expect(evilCall.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('cors: true allows any origin with *', async () => {
    const { call } = await startFixture({ gateway: { cors: true } });
    const r = await call({ path: '/gw/echo', body: {}, headers: { origin: 'https://anything.example' } });
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });
});

describe('lifecycle', () => {
  test('attachGateway starts with the service and stops with it', async () => {
    const namespace = newNamespace();
    const server = testService({ name: 'trees', namespace });
    server.handle(new Trees());
    const attached = attachGateway(server, { address: '127.0.0.1:0' });
    expect(attached.gateway).toBeUndefined();
    await server.start();
    const gw = await attached.started;
    expect(gw.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const tree = { root: { name: 'a', children: [{ name: 'b', children: [] }] } };
    expect((await call(gw.address, { path: '/trees/plant', body: tree })).json).toEqual(tree);
    await server.stop();
    await expect(call(gw.address, { method: 'GET', path: '/health' })).rejects.toThrow(/ECONNREFUSED/);
  });

  test('close() ends open event streams with an error event and waits for calls in flight', async () => {
    const { gateway, call } = await startFixture();
    const slow = call({ path: '/gw/slow', body: { ms: 200 } });
    const stream = call({ path: '/gw/endless', body: { every: 20 }, headers: { accept: 'text/event-stream' } });
    await new Promise((r) => setTimeout(r, 100));
    await gateway.close();
    expect(await slow).toMatchObject({ status: 200, json: { done: true } });
    const events = (await stream).text;
    expect(events).toMatch(/^data: 0\n\n/);
    expect(events).toMatch(/event: error\ndata: \{"id":"phobos.gateway","code":503,"detail":"the gateway is shutting down"\}\n\n$/);
  });
});
