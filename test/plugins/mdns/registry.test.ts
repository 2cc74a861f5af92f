import { createSocket } from 'node:dgram';
import multicastDns from 'multicast-dns';
import type { ServiceRecord } from '../../../lib/registry/registry';
import { createRegistry } from '../../../plugins/mdns';
import type { MdnsRegistry } from '../../../plugins/mdns';
import * as rec from '../../../plugins/mdns/records';
import { bigRecord, eventWhere, nextEvent, serviceRecord, uniqueName, waitFor } from '../../fixtures/mdns-helpers';

/**
 * Two registries in one process, each with its own multicast socket on loopback: everything between them crosses
 * the kernel exactly as it would between processes.
 */

const open: MdnsRegistry[] = [];
function registry(): MdnsRegistry {
  const r = createRegistry();
  open.push(r);
  return r;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

const byNode = (s: ServiceRecord): ServiceRecord => ({ ...s, nodes: [...s.nodes].sort((a, b) => a.id.localeCompare(b.id)) });

describe('MdnsRegistry (in-process, loopback)', () => {
  it('finds on B exactly what A registered, nodes of one version merged', async () => {
    const [a, b] = [registry(), registry()];
    const name = uniqueName('find');
    const record = serviceRecord(name, [`${name}-n1`, `${name}-n2`]);
    await a.register(record, { ttl: 30 });
    expect(a.name).toBe('mdns');
    // The registering side answers from its own cache at once.
    expect((await a.getService(name)).map(byNode)).toEqual([record]);
    const started = Date.now();
    const found = await b.getService(name);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(found.map(byNode)).toEqual([record]);
    // A fresh registry lists it too.
    const c = registry();
    expect((await c.listServices()).filter((s) => s.name === name).map(byNode)).toEqual([record]);
  });

  it('keeps versions apart and turns a changed re-registration into an update', async () => {
    const [a, b] = [registry(), registry()];
    const name = uniqueName('versions');
    const v1 = serviceRecord(name, [`${name}-a`], '1.0.0');
    const v2 = serviceRecord(name, [`${name}-b`], '2.0.0');
    await a.register(v1);
    await a.register(v2);
    await waitFor('both versions on B', async () => (await b.getService(name)).length === 2);
    expect((await b.getService(name)).sort((x, y) => x.version.localeCompare(y.version))).toEqual([v1, v2]);

    const w = b.watch({ service: name });
    const changed = { ...v1, metadata: { ...v1.metadata, owner: 'team-b' } };
    await a.register(changed);
    const e = await eventWhere(w, (ev) => ev.action === 'update');
    expect(e.service).toEqual(changed);
    expect((await b.getService(name)).find((s) => s.version === '1.0.0')).toEqual(changed);
    w.stop();
  });

  it('deregister: B sees a delete event and getService returns []', async () => {
    const [a, b] = [registry(), registry()];
    const name = uniqueName('dereg');
    const record = serviceRecord(name, [`${name}-n1`]);
    const w = b.watch({ service: name });
    await a.register(record);
    expect(await nextEvent(w)).toEqual({ action: 'create', service: record });
    await a.deregister(record);
    expect(await nextEvent(w)).toEqual({ action: 'delete', service: record });
    // An absent name costs a full lookup window (~1 s) on each side; both run at once.
    expect(await Promise.all([b.getService(name), a.getService(name)])).toEqual([[], []]);
    w.stop();
  });

  it('watch yields create then delete in order, and only for the service asked', async () => {
    const [a, b] = [registry(), registry()];
    const name = uniqueName('order');
    const other = uniqueName('other');
    const w = b.watch({ service: name });
    const all = b.watch();
    await a.register(serviceRecord(other, [`${other}-1`]));
    await a.register(serviceRecord(name, [`${name}-1`]));
    await a.deregister(serviceRecord(name, [`${name}-1`]));
    const seen = [await nextEvent(w), await nextEvent(w)].map((e) => `${e.action}:${e.service.name}`);
    expect(seen).toEqual([`create:${name}`, `delete:${name}`]);
    // The unfiltered watcher saw the other service too.
    await eventWhere(all, (e) => e.service.name === other);
    w.stop();
    all.stop();
  });

  it('drops a node whose owner vanished without goodbye within about its TTL', async () => {
    const [a, b] = [registry(), registry()];
    const name = uniqueName('expiry');
    const w = b.watch({ service: name });
    const seen: { action: string; at: number }[] = [];
    const reading = (async () => {
      for await (const e of w) seen.push({ action: e.action, at: Date.now() });
    })();
    await a.register(serviceRecord(name, [`${name}-1`]), { ttl: 1 });
    await waitFor('the create on B', () => seen.length > 0);
    // While A lives, its re-announcements alone keep the 1 s TTL fresh on B (nobody queries in between).
    const alive = Date.now();
    await waitFor('two TTLs to pass', () => Date.now() - alive > 2000, 3000, 100);
    expect(seen.map((e) => e.action)).toEqual(['create']);
    const killed = Date.now();
    await a.kill();
    await waitFor('the delete on B', () => seen.length > 1, 3000);
    expect(seen.map((e) => e.action)).toEqual(['create', 'delete']);
    expect(seen[1].at - killed).toBeLessThan(1500);
    w.stop();
    await reading;
  });

  it('round-trips a big record (20 endpoints with JSON Schemas)', async () => {
    const [a, b] = [registry(), registry()];
    const name = uniqueName('big');
    const record = bigRecord(name, `${name}-1`);
    expect(rec.txtBytes(rec.encodeTxt(record, 'x'))).toBeLessThan(rec.TXT_WARN_BYTES);
    await a.register(record);
    expect(await b.getService(name)).toEqual([record]);
  });

  it('ignores garbage, other domains and other speakers, and keeps working', async () => {
    const [a, b] = [registry(), registry()];
    const events: string[] = [];
    const all = b.watch();
    void (async () => {
      for await (const e of all) events.push(e.service.name);
    })();
    await b.listServices(); // socket up and browsed

    // Raw junk straight at the mDNS group, over loopback only.
    const raw = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', r));
    raw.setMulticastInterface('127.0.0.1');
    const junk = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(12, 0xff), Buffer.alloc(600, 0x41), Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, 0x61])];
    for (const j of junk) await new Promise((r) => raw.send(j, 5353, '224.0.0.251', r));
    raw.close();

    // Well-formed DNS with hostile or foreign content, from a stock mDNS speaker.
    const speaker = multicastDns({ interface: '127.0.0.1', bind: '0.0.0.0' });
    await new Promise((r) => speaker.once('ready', r));
    const junkName = uniqueName('junk');
    const foreign = uniqueName('foreign');
    const valid = rec.encodeTxt(serviceRecord(foreign, [`${foreign}-1`]), 'speaker');
    const txt = (name: string, data: Buffer[] | string, ttl = 30) => ({ name, type: 'TXT' as const, ttl, data });
    const answers = [
      txt(`${junkName}${rec.SERVICE_SUFFIX}`, [Buffer.from('phobos=1'), Buffer.from('enc=gzip'), Buffer.from('d=\x1f\x8bnope')]),
      txt(`${junkName}2${rec.SERVICE_SUFFIX}`, [Buffer.from('phobos=1'), Buffer.from('enc=json'), Buffer.from('d={"name":1}')]),
      txt(`${junkName}3${rec.SERVICE_SUFFIX}`, 'txtvers=1'),
      txt(`printer._ipp._tcp.local`, valid), // a valid payload in another domain
      txt(`_x._sub${rec.SERVICE_SUFFIX}`, valid), // not an instance name
      { name: rec.SERVICE_TYPE, type: 'PTR' as const, ttl: 0, data: `nobody${rec.SERVICE_SUFFIX}` },
      { name: 'host.local', type: 'A' as const, ttl: 120, data: '127.0.0.5' },
    ];
    for (const answer of answers) await new Promise((r) => speaker.respond({ answers: [answer] }, r));
    await new Promise((r) => speaker.query({ questions: [{ name: rec.SERVICE_TYPE, type: 'PTR' }] }, r));

    // Positive control from the same speaker: a well-formed record IS taken, and its PTR-only goodbye removes it.
    await new Promise((r) => speaker.respond({ answers: [txt(`ctl-${foreign}${rec.SERVICE_SUFFIX}`, valid)] }, r));
    await waitFor('the foreign control record', async () => (await b.getService(foreign)).length === 1);
    const bye = { name: rec.SERVICE_TYPE, type: 'PTR' as const, ttl: 0, data: `ctl-${foreign}${rec.SERVICE_SUFFIX}` };
    await new Promise((r) => speaker.respond({ answers: [bye] }, r));
    await waitFor('the PTR goodbye', () => events.filter((n) => n === foreign).length >= 2);
    await new Promise<void>((r) => speaker.destroy(r));

    // Only the control record's create and delete happened: nothing from the junk, the other domain or the subtype.
    // (Filtered: other suites on this machine announce their own services on 5353 meanwhile.)
    expect(events.filter((n) => n === foreign || n.startsWith(junkName))).toEqual([foreign, foreign]);
    expect((await b.listServices()).some((s) => s.name.startsWith(junkName) || s.name === foreign)).toBe(false);
    // Still fully working.
    const name = uniqueName('after-junk');
    await a.register(serviceRecord(name, [`${name}-1`]));
    expect(await b.getService(name)).toEqual([serviceRecord(name, [`${name}-1`])]);
    all.stop();
  });

  it('in loopback mode, ignores packets that arrive from a non-loopback source', async () => {
    const b = registry();
    await b.listServices();
    const name = uniqueName('lan');
    const packet = {
      type: 'response',
      questions: [],
      answers: [{ name: rec.instanceName(name, '1.0.0', 'n1'), type: 'TXT', ttl: 30, data: rec.encodeTxt(serviceRecord(name, ['n1']), 'x') }],
      authorities: [],
      additionals: [],
    };
    // Linux delivers the group's traffic from every interface to a 0.0.0.0-bound socket; simulate a LAN sender.
    const socket = (b as unknown as { mdns: NodeJS.EventEmitter }).mdns;
    socket.emit('response', packet, { address: '192.0.2.77', port: 5353, family: 'IPv4', size: 100 });
    expect((await b.listServices()).some((s) => s.name === name)).toBe(false);
    socket.emit('response', packet, { address: '127.0.0.1', port: 5353, family: 'IPv4', size: 100 });
    expect((await b.listServices()).some((s) => s.name === name)).toBe(true);
  });

  it('close(): goodbyes reach peers, watchers end, pending lookups return, later calls reject', async () => {
    const [a, b] = [registry(), registry()];
    const name = uniqueName('close');
    const w = b.watch({ service: name });
    await a.register(serviceRecord(name, [`${name}-1`, `${name}-2`]));
    await eventWhere(w, (e) => e.action === 'create' && e.service.nodes[0].id === `${name}-2`);
    const aw = a.watch();
    const lookup = a.getService(uniqueName('never'));
    await new Promise((r) => setImmediate(r)); // the lookup is now waiting for answers
    const closed = Date.now();
    await a.close();
    await a.close(); // idempotent
    expect(await lookup).toEqual([]);
    expect(Date.now() - closed).toBeLessThan(500);
    expect(await aw.next()).toEqual({ value: undefined, done: true });
    const gone = [await eventWhere(w, (e) => e.action === 'delete'), await eventWhere(w, (e) => e.action === 'delete')];
    expect(gone.map((e) => e.service.nodes[0].id).sort()).toEqual([`${name}-1`, `${name}-2`]);
    await expect(a.register(serviceRecord(name, ['x']))).rejects.toThrow(/closed/);
    await expect(a.getService(name)).rejects.toThrow(/closed/);
    expect((await a.watch().next()).done).toBe(true);
    w.stop();
  });

  it('fails operations with a clear error when the port cannot be bound', async () => {
    // A socket WITHOUT SO_REUSEADDR on a private port stands in for a responder that keeps 5353 to itself.
    const holder = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((r) => holder.bind(0, '0.0.0.0', r));
    const port = holder.address().port;
    const r = createRegistry({ port });
    open.push(r);
    await expect(r.register(serviceRecord(uniqueName('nobind'), ['n1']))).rejects.toThrow(`cannot bind 0.0.0.0:${port}`);
    await expect(r.listServices()).rejects.toThrow(/EADDRINUSE/);
    await r.close();
    holder.close();
  });

  it('rejects a registration without nodes; takes ttl 0 (memory\'s "forever") as the default TTL', async () => {
    const a = registry();
    await expect(a.register({ ...serviceRecord(uniqueName('empty'), []) })).rejects.toThrow(/at least one node/);
    const name = uniqueName('ttl0');
    await a.register(serviceRecord(name, [`${name}-1`]), { ttl: 0 });
    expect(await a.getService(name)).toHaveLength(1);
  });
});
