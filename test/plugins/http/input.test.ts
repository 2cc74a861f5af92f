import { gzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import { eventually } from '../../helpers/process';
import { closeAll, RawClient, startFixture } from './helpers';

/** Bad input over real HTTP: broken JSON, bodies over the limit (announced, chunked, zipped), pollution keys, slow clients. */

afterEach(closeAll);

const POLLUTING = '{"name":"x","__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"nested":{"__proto__":{"polluted":"yes"},"ok":1}}';

function rawHead(path: string, headers: Record<string, string | number>): string {
  return `POST ${path} HTTP/1.1\r\nHost: test\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

describe('bad input', () => {
  test('invalid JSON is 400 with the line, column and position of the error', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/gw/echo', body: '{"a": 1,', headers: { 'content-type': 'application/json' } });
    expect(r).toMatchObject({ status: 400, json: { id: 'phobos.gateway', code: 400 } });
    expect(r.json.detail).toMatch(/^invalid JSON at line 1, column 9 \(position 8\)/);
    const multi = await call({ path: '/gw/echo', body: '{\n  "a": 1,\n  "b": tru\n}', headers: { 'content-type': 'application/json' } });
    expect(multi.status).toBe(400);
    expect(multi.json.detail).toMatch(/^invalid JSON at line 3, column \d+ \(position \d+\)/);
  });

  test('an announced Content-Length over the limit is refused before the body is sent, and the connection closed', async () => {
    const { gateway, fixture } = await startFixture({ gateway: { bodyLimit: 1024 } });
    const raw = new RawClient(gateway.address);
    raw.write(rawHead('/gw/inspect', { 'content-type': 'application/json', 'content-length': 10_000_000 }));
    raw.write('{"name":"');
    await raw.waitClosed(3000);
    expect(raw.received).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw.received).toMatch(/"detail":"the request body of 10000000 bytes is over the limit of 1024 bytes"/);
    expect(fixture.seen).toBeUndefined();
  });

  test('Expect: 100-continue with a body over the limit gets 413 and never a 100 Continue', async () => {
    const { gateway } = await startFixture({ gateway: { bodyLimit: 1024 } });
    const raw = new RawClient(gateway.address);
    raw.write(rawHead('/gw/echo', { 'content-type': 'application/json', 'content-length': 5000, expect: '100-continue' }));
    await raw.waitClosed(3000);
    expect(raw.received).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw.received).not.toMatch(/100 Continue/);

    const ok = new RawClient(gateway.address);
    ok.write(rawHead('/gw/echo', { 'content-type': 'application/json', 'content-length': 7, expect: '100-continue', connection: 'close' }));
    await eventually(() => ok.received.includes('100 Continue'), 3000);
    ok.write('{"a":1}');
    await ok.waitClosed(3000);
    expect(ok.received).toMatch(/HTTP\/1\.1 200 OK[\s\S]*\{"a":1\}$/);
  });

  test('a chunked body is counted as it arrives: 413 once past the limit, the rest never read', async () => {
    const { gateway, fixture } = await startFixture({ gateway: { bodyLimit: 1024 } });
    const raw = new RawClient(gateway.address);
    raw.write(rawHead('/gw/inspect', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
    const chunk = `{"pad":"${'x'.repeat(500)}`;
    let sent = 0;
    // Keep sending 500-byte chunks until the gateway answers; it must answer right after the limit.
    while (!raw.received && sent < 100) {
      raw.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      sent++;
      await new Promise((r) => setTimeout(r, 20));
    }
    await raw.waitClosed(3000);
    expect(raw.received).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw.received).toMatch(/connection: close/i);
    expect(sent).toBeLessThanOrEqual(4);
    expect(fixture.seen).toBeUndefined();
  });

  test('a chunked body within the limit is read whole', async () => {
    const { call } = await startFixture({ gateway: { bodyLimit: 4096 } });
    const value = { pad: 'y'.repeat(3000) };
    const r = await call({ path: '/gw/echo', body: value, chunks: 7 });
    expect(r).toMatchObject({ status: 200, json: value });
  });

  test('gzip request bodies are inflated; a zip bomb is refused by its inflated size', async () => {
    const { call } = await startFixture();
    const value = { list: Array.from({ length: 200 }, (_, i) => i) };
    const r = await call({
      path: '/gw/echo',
      body: gzipSync(JSON.stringify(value)),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(r).toMatchObject({ status: 200, json: value });

    // 64 MiB of spaces is about 64 KiB zipped: well under the 1 MiB limit until inflated.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const started = Date.now();
    const refused = await call({ path: '/gw/echo', body: bomb, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expect(refused).toMatchObject({ status: 413, json: { code: 413 } });
    expect(refused.json.detail).toMatch(/inflates to more than the limit of 1048576 bytes/);
    expect(Date.now() - started).toBeLessThan(2000);

    const broken = await call({ path: '/gw/echo', body: Buffer.from('not gzip'), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expect(broken.status).toBe(400);
    const unknown = await call({ path: '/gw/echo', body: '{}', headers: { 'content-type': 'application/json', 'content-encoding': 'compress' } });
    expect(unknown).toMatchObject({ status: 415 });
  });

  test.each([
    ['in the serving process', true, undefined],
    ['through a JSON client over tcp', false, 'json'],
    ['through a msgpack client over tcp', false, 'msgpack'],
  ])('__proto__ and constructor keys never reach Object.prototype (%s)', async (_name, embedded, codec) => {
    const { call, fixture } = await startFixture({ embedded, front: codec ? { codec } : {} });
    const r = await call({ path: '/gw/inspect', body: POLLUTING, headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ keys: ['name', 'nested'], plainPrototype: true, mergedKeys: ['name', 'nested'], polluted: null });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(fixture.seen).toEqual({ name: 'x', nested: { ok: 1 } });
    expect(Object.getPrototypeOf(fixture.seen)).toBe(Object.prototype);

    // Unicode escapes spell the same keys.
    const escaped = await call({ path: '/gw/inspect', body: '{"\\u005f_proto__":{"polluted":"yes"},"a":1}', headers: { 'content-type': 'application/json' } });
    expect(escaped.json).toMatchObject({ keys: ['a'], polluted: null });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('msgpack bodies lose the same keys', async () => {
    const { call } = await startFixture({ embedded: true });
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    const body = packr.pack(JSON.parse(POLLUTING));
    const r = await call({ path: '/gw/inspect', body, headers: { 'content-type': 'application/msgpack', accept: 'application/json' } });
    expect(r.status).toBe(200);
    expect(r.json.polluted).toBeNull();
    expect(r.json.keys).not.toContain('constructor');
    expect(r.json.keys).not.toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('odd request targets (__proto__, toString, absolute form) are refused (Node 400 or our 404), and the gateway keeps serving', async () => {
    const { gateway, call } = await startFixture();
    for (const target of ['__proto__', 'toString', 'http://elsewhere/gw/echo', '*']) {
      const raw = new RawClient(gateway.address);
      raw.write(`GET ${target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`);
      await raw.waitClosed(3000);
      expect({ target, status: raw.received.slice(0, 12) }).toEqual({ target, status: expect.stringMatching(/^HTTP\/1\.1 40[04]$/) });
    }
    expect((await call({ path: '/gw/echo', body: { still: 1 } })).json).toEqual({ still: 1 });
  });
});

describe('slow clients', () => {
  test('headers dribbled past headersTimeout: 408 and the socket closed, while others are served', async () => {
    const { gateway, call } = await startFixture({ gateway: { headersTimeout: 400 } });
    const raw = new RawClient(gateway.address);
    raw.write('POST /gw/echo HTTP/1.1\r\nHost: test\r\n');
    let dribbled = 0;
    const dribble = setInterval(() => raw.write(`x-slow-${dribbled++}: 1\r\n`), 50);
    try {
      // Meanwhile the gateway serves everyone else.
      for (let i = 0; i < 5; i++) expect((await call({ path: '/gw/echo', body: { i } })).json).toEqual({ i });
      await raw.waitClosed(3000);
    } finally {
      clearInterval(dribble);
    }
    expect(raw.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(dribbled).toBeGreaterThan(3);
  });

  test('a body dribbled past bodyTimeout: 408 with a JSON body and the socket closed, while others are served', async () => {
    const { gateway, call, fixture } = await startFixture({ gateway: { bodyTimeout: 300 } });
    const raw = new RawClient(gateway.address);
    raw.write(rawHead('/gw/inspect', { 'content-type': 'application/json', 'content-length': 100 }));
    const dribble = setInterval(() => raw.write(' '), 40);
    try {
      expect((await call({ path: '/gw/echo', body: { fine: true } })).json).toEqual({ fine: true });
      await raw.waitClosed(3000);
    } finally {
      clearInterval(dribble);
    }
    expect(raw.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(raw.received).toMatch(/"detail":"the request body did not arrive within 300 ms"/);
    expect(fixture.seen).toBeUndefined();
    expect((await call({ path: '/gw/echo', body: { after: true } })).json).toEqual({ after: true });
  });
});
