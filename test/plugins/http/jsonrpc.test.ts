import { closeAll, startFixture } from './helpers';

/** POST /rpc: JSON-RPC 2.0 over real HTTP, single requests, batches, notifications and every error code. */

afterEach(closeAll);

const rpc = (method: string, params?: unknown, id: unknown = 1) => ({ jsonrpc: '2.0', method, ...(params !== undefined ? { params } : {}), id });
/** A notification: no id member at all. */
const note = (method: string, params: unknown) => ({ jsonrpc: '2.0', method, params });

describe('JSON-RPC 2.0', () => {
  test('a single call, by name and by position, with a dotted or slashed method', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/rpc', body: rpc('gw.greet', { name: 'ann' }, 7) });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ jsonrpc: '2.0', result: { message: 'hello ann' }, id: 7 });
    const positional = await call({ path: '/rpc', body: rpc('gw/greet', [{ name: 'bob' }], 'abc') });
    expect(positional.json).toEqual({ jsonrpc: '2.0', result: { message: 'hello bob' }, id: 'abc' });
    const nothing = await call({ path: '/rpc', body: rpc('gw.nothing', {}, null) });
    expect(nothing.json).toEqual({ jsonrpc: '2.0', result: null, id: null });
  });

  test('headers give every call metadata', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/rpc', body: rpc('gw.meta', {}), headers: { 'x-phobos-tenant': 't', authorization: 'Bearer z', 'x-request-id': 'r9' } });
    expect(r.json.result).toEqual({ tenant: 't', authorization: 'Bearer z', 'x-request-id': 'r9' });
  });

  test('a batch answers each request with its id, in order, leaving out notifications', async () => {
    const { call, fixture } = await startFixture();
    const r = await call({
      path: '/rpc',
      body: [rpc('gw.echo', { n: 1 }, 1), note('gw.echo', { n: 2 }), rpc('gw.crash', {}, 3), rpc('gw.greet', { name: 'c' }, 'four'), note('gw.inspect', { q: 1 })],
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual([
      { jsonrpc: '2.0', result: { n: 1 }, id: 1 },
      { jsonrpc: '2.0', error: { code: -32603, message: 'Internal error', data: { id: 'gw.crash', code: 500, detail: 'boom' } }, id: 3 },
      { jsonrpc: '2.0', result: { message: 'hello c' }, id: 'four' },
    ]);
    // The notification ran all the same.
    expect(fixture.seen).toEqual({ q: 1 });
  });

  test('notifications alone are answered 204 with no body, after they ran', async () => {
    const { call, fixture } = await startFixture();
    const one = await call({ path: '/rpc', body: note('gw.inspect', { a: 1 }) });
    expect(one.status).toBe(204);
    expect(one.body.length).toBe(0);
    expect(fixture.seen).toEqual({ a: 1 });
    const batch = await call({ path: '/rpc', body: [note('gw.echo', {}), note('gw.inspect', { b: 2 })] });
    expect(batch.status).toBe(204);
    expect(fixture.seen).toEqual({ b: 2 });
  });

  test('batch calls run concurrently, at most batchConcurrency at once', async () => {
    const { call, fixture } = await startFixture({ gateway: { batchConcurrency: 3 } });
    const started = Date.now();
    const r = await call({ path: '/rpc', body: Array.from({ length: 9 }, (_, i) => rpc('gw.tracked', { ms: 60 }, i)) });
    expect(r.json.map((x: { id: number }) => x.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(fixture.maxRunning).toBe(3);
    // Three rounds of 60 ms, not nine.
    expect(Date.now() - started).toBeLessThan(9 * 60);
  });

  test('-32700 parse error, with id null', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/rpc', body: '{"jsonrpc":"2.0","method":', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    expect(r.json.error.data.detail).toMatch(/^invalid JSON at line 1/);
    const empty = await call({ path: '/rpc', body: '', headers: { 'content-type': 'application/json' } });
    expect(empty.json.error.code).toBe(-32700);
  });

  test('-32600 invalid request: not an object, wrong version, bad method or id or params, an empty batch', async () => {
    const { call } = await startFixture();
    const invalid = async (body: unknown) => (await call({ path: '/rpc', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).json;
    expect(await invalid(1)).toMatchObject({ error: { code: -32600 }, id: null });
    expect(await invalid({ jsonrpc: '1.0', method: 'gw.echo', id: 5 })).toMatchObject({ error: { code: -32600 }, id: 5 });
    expect(await invalid({ jsonrpc: '2.0', method: 3, id: 6 })).toMatchObject({ error: { code: -32600 }, id: 6 });
    expect(await invalid({ jsonrpc: '2.0', method: 'gw.echo', id: { x: 1 } })).toMatchObject({ error: { code: -32600 }, id: null });
    expect(await invalid({ jsonrpc: '2.0', method: 'gw.echo', params: 'x', id: 7 })).toMatchObject({ error: { code: -32600 }, id: 7 });
    // An empty batch is one error, not an empty array.
    expect(await invalid([])).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
    // Invalid entries of a batch are answered one by one.
    const mixed = await invalid([1, rpc('gw.echo', { ok: 1 }, 2)]);
    expect(mixed).toEqual([
      { jsonrpc: '2.0', error: expect.objectContaining({ code: -32600 }), id: null },
      { jsonrpc: '2.0', result: { ok: 1 }, id: 2 },
    ]);
  });

  test('a batch over batchLimit is one -32600', async () => {
    const { call } = await startFixture({ gateway: { batchLimit: 3 } });
    const r = await call({ path: '/rpc', body: Array.from({ length: 4 }, (_, i) => rpc('gw.echo', {}, i)) });
    expect(r.json).toMatchObject({ error: { code: -32600 }, id: null });
    expect(r.json.error.data.detail).toMatch(/over the limit of 3/);
  });

  test('-32601 method not found: unknown service, endpoint, shape, and streaming endpoints', async () => {
    const { call } = await startFixture();
    for (const method of ['nosuch.echo', 'gw.nosuch', 'noseparator', 'gw.count']) {
      const r = await call({ path: '/rpc', body: rpc(method, {}, method) });
      expect(r.json).toMatchObject({ error: { code: -32601, message: 'Method not found' }, id: method });
      expect(r.json.error.data.code).toBe(404);
    }
  });

  test('-32602 invalid params names the fields; two positional params are invalid too', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/rpc', body: rpc('gw.greet', { name: '' }) });
    expect(r.json.error).toMatchObject({ code: -32602, message: 'Invalid params', data: { id: 'gw.greet', code: 400 } });
    expect(r.json.error.data.issues.map((i: { path: string }) => i.path)).toEqual(['name']);
    const two = await call({ path: '/rpc', body: rpc('gw.greet', [{ name: 'a' }, { name: 'b' }]) });
    expect(two.json.error.code).toBe(-32602);
  });

  test('other errors are -32000 server errors carrying {id, code, detail}', async () => {
    const { call } = await startFixture();
    const cases: [string, unknown, number][] = [
      ['gw.secret', {}, 401],
      ['gw.down', {}, 503],
      ['gw.impatient', {}, 408],
    ];
    for (const [method, params, code] of cases) {
      const r = await call({ path: '/rpc', body: rpc(method, params) });
      expect(r.json.error).toMatchObject({ code: -32000, data: { code } });
    }
    const late = await call({ path: '/rpc', body: rpc('gw.slow', { ms: 3000 }), headers: { 'x-phobos-timeout': '100ms' } });
    expect(late.json.error).toMatchObject({ code: -32000, data: { code: 504 } });
  });

  test('HTTP-level refusals stay HTTP errors: 415 and 413', async () => {
    const { call } = await startFixture({ gateway: { bodyLimit: 100 } });
    expect((await call({ path: '/rpc', body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call({ path: '/rpc', body: rpc('gw.echo', { pad: 'x'.repeat(200) }) })).status).toBe(413);
  });
});
