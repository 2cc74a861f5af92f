import { gzipSync } from 'node:zlib';
import type { WatchEvent } from '../../../lib/registry/registry';
import { ServiceCache } from '../../../plugins/mdns/cache';
import * as rec from '../../../plugins/mdns/records';
import { isLoopbackSource, planSocket, resolveInterface } from '../../../plugins/mdns/socket';
import { QueueWatcher } from '../../../lib/registry/watcher';
import { silentLogger } from '../../../lib/observe/logger';
import { bigRecord, serviceRecord, waitFor } from '../../fixtures/mdns-helpers';

const one = (name = 'svc', id = 'svc-1') => rec.nodeRecord(serviceRecord(name, [id]), serviceRecord(name, [id]).nodes[0]);

describe('mdns TXT records', () => {
  it('round-trips a small record as plain JSON', () => {
    const txt = rec.encodeTxt(one(), 'abc');
    expect(txt.map(String)).toContain('enc=json');
    expect(rec.decodeTxt(txt)).toEqual({ record: one(), src: 'abc' });
  });

  it('gzips a big record, keeps every TXT string within 255 bytes, and round-trips it', () => {
    const big = bigRecord('big', 'big-1');
    const json = Buffer.byteLength(JSON.stringify(big));
    const txt = rec.encodeTxt(big, 'abc');
    expect(txt.map((b) => b.toString('latin1'))).toContain('enc=gzip');
    expect(Math.max(...txt.map((b) => b.length))).toBeLessThanOrEqual(255);
    // The point of gzip: ~20 endpoints with schemas fit well inside one 9000-byte mDNS packet.
    expect(rec.txtBytes(txt)).toBeLessThan(rec.TXT_WARN_BYTES);
    expect(rec.txtBytes(txt)).toBeLessThan(json / 3);
    expect(rec.decodeTxt(txt)?.record).toEqual(big);
  });

  it('rejects what it did not write, without throwing', () => {
    const d = (s: string | Buffer) => Buffer.concat([Buffer.from('d='), Buffer.from(s)]);
    const good = JSON.stringify(one());
    const bad: unknown[] = [
      undefined,
      null,
      42,
      'txtvers=1',
      [Buffer.from('phobos=1'), Buffer.from('enc=json')], // no payload
      [Buffer.from('phobos=2'), Buffer.from('enc=json'), d(good)], // unknown layout
      [Buffer.from('phobos=1'), Buffer.from('enc=brotli'), d(good)],
      [Buffer.from('phobos=1'), Buffer.from('enc=json'), d('{not json')],
      [Buffer.from('phobos=1'), Buffer.from('enc=gzip'), d('not gzip at all')],
      [Buffer.from('phobos=1'), Buffer.from('enc=json'), d('[1,2,3]')],
      [Buffer.from('phobos=1'), Buffer.from('enc=json'), d(JSON.stringify({ ...one(), nodes: [] }))],
      [Buffer.from('phobos=1'), Buffer.from('enc=json'), d(JSON.stringify({ ...one(), nodes: [{ id: 'x' }] }))],
      [Buffer.from('phobos=1'), Buffer.from('enc=json'), d(JSON.stringify({ ...one(), metadata: { a: 1 } }))],
      [Buffer.from('phobos=1'), Buffer.from('enc=json'), d(JSON.stringify({ ...one(), endpoints: [{ nope: 1 }] }))],
      [Buffer.from('phobos=1'), Buffer.from('enc=json'), d(JSON.stringify({ ...one(), name: '' }))],
      [Buffer.from('phobos=1'), Buffer.from('enc=json'), { length: 3 }],
    ];
    for (const data of bad) expect(rec.decodeTxt(data)).toBeNull();
  });

  it('refuses a decompression bomb', () => {
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20));
    const chunks = [];
    for (let i = 0; i < bomb.length; i += 253) chunks.push(Buffer.concat([Buffer.from('d='), bomb.subarray(i, i + 253)]));
    expect(rec.decodeTxt([Buffer.from('phobos=1'), Buffer.from('enc=gzip'), ...chunks])).toBeNull();
  });
});

describe('mdns names', () => {
  it('makes DNS-safe instance labels of at most 63 bytes, distinct per name/version/node', () => {
    const long = 'x'.repeat(200);
    const names = [
      rec.instanceName('svc', '1.0.0', 'svc-1'),
      rec.instanceName('svc', '2.0.0', 'svc-1'),
      rec.instanceName('other', '1.0.0', 'svc-1'),
      rec.instanceName('svc', '1.0.0', `node.with.dots/${long}`),
    ];
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) {
      expect(n.endsWith(rec.SERVICE_SUFFIX)).toBe(true);
      expect(rec.isInstanceName(n)).toBe(true);
      expect(n.split('.')[0].length).toBeLessThanOrEqual(63);
    }
    expect(rec.subtypeName(long).split('.')[0].length).toBeLessThanOrEqual(63);
    expect(rec.isInstanceName(rec.subtypeName('svc'))).toBe(false);
    expect(rec.isInstanceName('printer._ipp._tcp.local')).toBe(false);
    expect(rec.isInstanceName(rec.SERVICE_TYPE)).toBe(false);
  });

  it('splits literal IP addresses only', () => {
    expect(rec.splitAddress('127.0.0.1:80')).toEqual({ ip: '127.0.0.1', family: 4, port: 80 });
    expect(rec.splitAddress('[::1]:8080')).toEqual({ ip: '::1', family: 6, port: 8080 });
    expect(rec.splitAddress('myhost:80')).toBeUndefined();
    expect(rec.splitAddress('127.0.0.1')).toBeUndefined();
    expect(rec.splitAddress('127.0.0.1:99999')).toBeUndefined();
  });
});

describe('mdns socket plan', () => {
  it('is loopback-only unless an interface is named', () => {
    const plan = planSocket({});
    expect(plan.loopback).toBe(true);
    expect(plan.options).toMatchObject({ interface: '127.0.0.1', bind: '0.0.0.0', port: 5353, reuseAddr: true });
    expect(planSocket({ interface: '10.1.2.3', port: 5354 })).toMatchObject({ loopback: false, options: { port: 5354 } });
    expect(resolveInterface('lo')).toBe('127.0.0.1');
    expect(() => resolveInterface('no-such-if0')).toThrow(/no-such-if0/);
    expect(isLoopbackSource('127.0.0.1')).toBe(true);
    expect(isLoopbackSource('192.168.1.5')).toBe(false);
  });
});

describe('mdns cache', () => {
  it('emits create, update, delete per node and merges nodes by name and version', () => {
    const events: WatchEvent[] = [];
    const cache = new ServiceCache((e) => events.push(e));
    const a = one('svc', 'n1');
    const b = one('svc', 'n2');
    const v2 = { ...one('svc', 'n3'), version: '2.0.0' };
    cache.upsert('a', a, 30);
    cache.upsert('a', a, 30); // a refresh is not a change
    cache.upsert('b', b, 30);
    cache.upsert('c', v2, 30);
    cache.upsert('b', { ...b, metadata: { changed: 'yes' } }, 30);
    cache.remove('a');
    cache.remove('a');
    expect(events.map((e) => `${e.action}:${e.service.nodes.map((n) => n.id).join()}`)).toEqual([
      'create:n1',
      'create:n2',
      'create:n3',
      'update:n2',
      'delete:n1',
    ]);
    const versions = cache.get('svc');
    expect(versions.map((s) => [s.version, s.nodes.map((n) => n.id)])).toEqual([
      ['1.0.0', ['n2']],
      ['2.0.0', ['n3']],
    ]);
    // Answers are copies: editing them leaves the cache alone.
    versions[0].nodes.length = 0;
    expect(cache.get('svc')[0].nodes).toHaveLength(1);
    cache.clear();
    expect(cache.list()).toEqual([]);
  });

  it('expires entries by TTL', async () => {
    const events: WatchEvent[] = [];
    const cache = new ServiceCache((e) => events.push(e));
    cache.upsert('short', one('svc', 'short'), 1);
    cache.upsert('long', one('svc', 'long'), 60);
    await waitFor('expiry', () => events.some((e) => e.action === 'delete'), 2500);
    expect(cache.get('svc')[0].nodes.map((n) => n.id)).toEqual(['long']);
    cache.clear();
  });
});

describe('mdns watcher', () => {
  it('queues, filters, and ends a pending next() on stop', async () => {
    let stopped = 0;
    const w = new QueueWatcher('svc', () => stopped++, silentLogger);
    w.push({ action: 'create', service: one('other') });
    w.push({ action: 'create', service: one('svc') });
    expect((await w.next()).value?.service.name).toBe('svc');
    const pending = w.next();
    w.stop();
    w.stop();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(stopped).toBe(1);
  });
});
