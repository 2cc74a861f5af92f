import { gunzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { AttemptFn } from '../../../lib';
import { gate } from '../../fixtures/streams-service';
import { closeAll, startFixture } from './helpers';

/** POST /{service}/{endpoint} over real HTTP: replies, metadata, codecs, and every status a real handler produces. */

afterEach(closeAll);

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

describe('calls', () => {
  test('a JSON call is answered in JSON with a request id, made up or echoed', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/gw/echo', body: { x: [1, 'two'], y: null } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json).toEqual({ x: [1, 'two'], y: null });
    expect(r.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const given = await call({ path: '/gw/echo', body: {}, headers: { 'x-request-id': 'req-42' } });
    expect(given.headers['x-request-id']).toBe('req-42');
  });

  test('prefixed headers become metadata, Authorization passes through, other headers do not', async () => {
    const { call } = await startFixture();
    const r = await call({
      path: '/gw/meta',
      body: {},
      headers: { 'x-phobos-tenant': 'a', 'X-Phobos-Trace-Id': 't1', authorization: 'Bearer abc', 'x-other': 'no', 'x-request-id': 'rid-1' },
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ tenant: 'a', 'trace-id': 't1', authorization: 'Bearer abc', 'x-request-id': 'rid-1' });
  });

  test('a custom header prefix', async () => {
    const { call } = await startFixture({ gateway: { headerPrefix: 'x-meta-' } });
    const r = await call({ path: '/gw/meta', body: {}, headers: { 'x-meta-user': 'u1', 'x-phobos-tenant': 'ignored', 'x-request-id': 'r' } });
    expect(r.json).toEqual({ user: 'u1', 'x-request-id': 'r' });
  });

  test('the call goes through the client: its call wrappers see every attempt', async () => {
    const attempts: string[] = [];
    const counting = (next: AttemptFn): AttemptFn => (a) => {
      attempts.push(`${a.service}.${a.endpoint}@${a.node.address}`);
      return next(a);
    };
    const { call, server } = await startFixture({ front: { callWrappers: [counting] } });
    await call({ path: '/gw/echo', body: { n: 1 } });
    await call({ path: '/gw/echo', body: { n: 2 } });
    expect(attempts).toEqual([`gw.echo@${server.address}`, `gw.echo@${server.address}`]);
  });

  test('embedded in the serving process, calls take the in-process path and keep their metadata', async () => {
    const { call } = await startFixture({ embedded: true });
    expect((await call({ path: '/gw/echo', body: { a: 1 } })).json).toEqual({ a: 1 });
    const meta = await call({ path: '/gw/meta', body: {}, headers: { 'x-phobos-tenant': 'b', 'x-request-id': 'r2' } });
    expect(meta.json).toEqual({ tenant: 'b', 'x-request-id': 'r2' });
  });

  test('validation failures are 400 naming the fields: a zod schema and a class-validator DTO', async () => {
    const { call } = await startFixture();
    const zod = await call({ path: '/gw/greet', body: { name: '', times: 1.5 } });
    expect(zod.status).toBe(400);
    expect(zod.json).toMatchObject({ id: 'gw.greet', code: 400 });
    expect(zod.json.issues.map((i: { path: string }) => i.path).sort()).toEqual(['name', 'times']);
    expect(zod.json.detail).toMatch(/name/);

    const dto = await call({ path: '/gw/signUp', body: { email: 'nope', age: 12 } });
    expect(dto.status).toBe(400);
    expect(dto.json.issues.map((i: { path: string }) => i.path).sort()).toEqual(['age', 'email']);

    const ok = await call({ path: '/gw/signUp', body: { email: 'a@b.io', age: 30 } });
    expect(ok).toMatchObject({ status: 200, json: { welcome: 'a@b.io', age: 30 } });
  });

  test('401 and 403 from a handler reading Authorization', async () => {
    const { call } = await startFixture();
    expect(await call({ path: '/gw/secret', body: {} })).toMatchObject({ status: 401, json: { id: 'gw.secret', code: 401, detail: 'log in first' } });
    const bad = await call({ path: '/gw/secret', body: {}, headers: { authorization: 'Bearer bad' } });
    expect(bad).toMatchObject({ status: 403, json: { code: 403, detail: 'not for you' } });
    const good = await call({ path: '/gw/secret', body: {}, headers: { authorization: 'Bearer good' } });
    expect(good).toMatchObject({ status: 200, json: { ok: true } });
  });

  test('a crashing handler is a 500 to its caller only; 503 from a handler stays 503', async () => {
    const { call } = await startFixture();
    const [crash, fine] = await Promise.all([call({ path: '/gw/crash', body: {} }), call({ path: '/gw/echo', body: { still: 'fine' } })]);
    expect(crash).toMatchObject({ status: 500, json: { id: 'gw.crash', code: 500, detail: 'boom' } });
    expect(fine).toMatchObject({ status: 200, json: { still: 'fine' } });
    expect(await call({ path: '/gw/down', body: {} })).toMatchObject({ status: 503, json: { id: 'gw.down', code: 503, detail: 'maintenance' } });
  });

  test('a bulkhead overflow is 429', async () => {
    const { call, fixture } = await startFixture();
    const g = gate();
    fixture.gate = g.promise;
    const first = call({ path: '/gw/narrow', body: {} });
    // The first call holds the only slot until the gate opens; wait until it is in.
    let second = await call({ path: '/gw/narrow', body: {} });
    for (let i = 0; i < 50 && second.status !== 429; i++) second = await call({ path: '/gw/narrow', body: {} });
    expect(second).toMatchObject({ status: 429, json: { id: 'gw.narrow', code: 429 } });
    g.open();
    expect((await first).status).toBe(200);
  });

  test('deadlines: the gateway timeout and the timeout header are 504; a handler 408 stays 408', async () => {
    const { call } = await startFixture({ gateway: { timeout: 2000 } });
    const started = Date.now();
    const viaHeader = await call({ path: '/gw/slow', body: { ms: 5000 }, headers: { 'x-phobos-timeout': '150ms' } });
    expect(viaHeader.status).toBe(504);
    expect(viaHeader.json.code).toBe(504);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await call({ path: '/gw/slow', body: { ms: 10 }, headers: { 'x-phobos-timeout': '2s' } })).toMatchObject({ status: 200 });
    expect(await call({ path: '/gw/impatient', body: {} })).toMatchObject({ status: 408, json: { id: 'gw.impatient', code: 408 } });
    const bad = await call({ path: '/gw/echo', body: {}, headers: { 'x-phobos-timeout': 'soon' } });
    expect(bad).toMatchObject({ status: 400, json: { id: 'phobos.gateway' } });
    expect(bad.json.detail).toMatch(/timeout header "soon"/);
  });

  test('the gateway default timeout is 504 too, and the header is capped by maxTimeout', async () => {
    const { call } = await startFixture({ gateway: { timeout: 100, maxTimeout: 200 } });
    expect((await call({ path: '/gw/slow', body: { ms: 3000 } })).status).toBe(504);
    const started = Date.now();
    expect((await call({ path: '/gw/slow', body: { ms: 3000 }, headers: { 'x-phobos-timeout': '10s' } })).status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  test('unknown service, unknown endpoint and event subscribers are 404; bad paths too', async () => {
    const { call } = await startFixture();
    const svc = await call({ path: '/nosuch/echo', body: {} });
    expect(svc).toMatchObject({ status: 404, json: { id: 'phobos.gateway', code: 404 } });
    expect(svc.json.detail).toMatch(/unknown service "nosuch"/);
    const ep = await call({ path: '/gw/nosuch', body: {} });
    expect(ep.status).toBe(404);
    expect(ep.json.detail).toMatch(/unknown endpoint "nosuch" of service gw/);
    expect((await call({ path: `/gw/${encodeURIComponent('gw.events')}`, body: {} })).status).toBe(404);
    expect((await call({ path: '/gw', body: {} })).status).toBe(404);
    expect((await call({ path: '/gw/echo/more', body: {} })).status).toBe(404);
    expect((await call({ path: '/gw/%E0%A4%A', body: {} })).status).toBe(400);
  });

  test('methods other than POST are 405 with Allow', async () => {
    const { call } = await startFixture();
    const get = await call({ method: 'GET', path: '/gw/echo' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const put = await call({ method: 'PUT', path: '/gw/echo', body: {} });
    expect(put).toMatchObject({ status: 405, headers: { allow: 'POST' } });
    const health = await call({ method: 'POST', path: '/health', body: {} });
    expect(health).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
    const rpc = await call({ method: 'GET', path: '/rpc' });
    expect(rpc).toMatchObject({ status: 405, headers: { allow: 'POST' } });
  });

  test('a content type no codec reads is 415; one Accept cannot satisfy is 406', async () => {
    const { call } = await startFixture();
    const text = await call({ path: '/gw/echo', body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(text).toMatchObject({ status: 415, json: { code: 415 } });
    expect(text.json.detail).toMatch(/application\/json/);
    const form = await call({ path: '/gw/echo', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    expect((await call({ path: '/gw/echo', body: {}, headers: { accept: 'text/html' } })).status).toBe(406);
    expect((await call({ path: '/gw/echo', body: { a: 1 }, headers: { accept: 'text/html, */*;q=0.1' } })).json).toEqual({ a: 1 });
    const charset = await call({ path: '/gw/echo', body: '{"a":2}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(charset.json).toEqual({ a: 2 });
  });

  test('msgpack in, msgpack out; JSON in, msgpack out when Accept asks', async () => {
    const { call } = await startFixture();
    const value = { list: [1, 2, 3], nested: { s: 'x' } };
    const r = await call({ path: '/gw/echo', body: packr.pack(value), headers: { 'content-type': 'application/msgpack' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/msgpack');
    expect(packr.unpack(r.body)).toEqual(value);
    const accepted = await call({ path: '/gw/echo', body: value, headers: { accept: 'application/msgpack' } });
    expect(accepted.headers['content-type']).toBe('application/msgpack');
    expect(packr.unpack(accepted.body)).toEqual(value);
    const broken = await call({ path: '/gw/echo', body: Buffer.from([0x93, 0x01]), headers: { 'content-type': 'application/msgpack' } });
    expect(broken).toMatchObject({ status: 400, json: { code: 400 } });
  });

  test('a handler that returns nothing is 204 with no body', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/gw/nothing', body: {} });
    expect(r.status).toBe(204);
    expect(r.body.length).toBe(0);
  });

  test('replies over the threshold are gzipped when accepted, small ones and unaccepting clients get plain bytes', async () => {
    const { call } = await startFixture();
    const zipped = await call({ path: '/gw/big', body: { size: 20_000 }, headers: { 'accept-encoding': 'gzip, deflate' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('Accept-Encoding');
    expect(zipped.body.length).toBeLessThan(2000);
    expect(JSON.parse(gunzipSync(zipped.body).toString()).text).toHaveLength(20_000);

    const plain = await call({ path: '/gw/big', body: { size: 20_000 } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.json.text).toHaveLength(20_000);
    const refused = await call({ path: '/gw/big', body: { size: 20_000 }, headers: { 'accept-encoding': 'gzip;q=0' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
    const small = await call({ path: '/gw/big', body: { size: 100 }, headers: { 'accept-encoding': 'gzip' } });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.json.text).toHaveLength(100);

    const { call: noGzip } = await startFixture({ gateway: { gzip: false } });
    const off = await noGzip({ path: '/gw/big', body: { size: 20_000 }, headers: { 'accept-encoding': 'gzip' } });
    expect(off.headers['content-encoding']).toBeUndefined();
  });
});
