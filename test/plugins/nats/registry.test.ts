import type { WatchEvent } from '../../../lib/registry/registry';
import { NatsRegistry } from '../../../plugins/nats';
import { type Announcement, RegistryView } from '../../../plugins/nats/registry-view';
import { nextMatching, record, uniqueService } from '../../conformance/registry';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { Child, eventually, killAll } from '../../helpers/process';
import { rawConnection } from './helpers';

/** The NATS registry's view rules, a late watcher catching up, bad announcements, and a crashed process expiring. */

describe('nats registry view', () => {
  const name = 'view-svc';
  const put = (seq: number, owner = 'a', origin = 'o1'): Announcement => ({
    origin,
    seq,
    action: 'put',
    ttlMs: 60_000,
    service: record(name, [`${name}-1`], '1.0.0', { owner }),
  });
  const del = (seq: number, origin = 'o1'): Announcement => ({ ...put(seq, 'a', origin), action: 'delete', ttlMs: 0 });

  function view(): { v: RegistryView; events: string[] } {
    const events: string[] = [];
    const v = new RegistryView((e: WatchEvent) => events.push(`${e.action}:${e.service.metadata.owner}`));
    return { v, events };
  }

  test('a renewal that changes nothing makes no event; a changed record is an update', () => {
    const { v, events } = view();
    v.apply(put(1));
    v.apply(put(2));
    v.apply(put(3, 'b'));
    expect(events).toEqual(['create:a', 'update:b']);
    expect(v.get(name)[0].metadata.owner).toBe('b');
  });

  test('a stale answer (older seq from the same origin) neither revives a deregistered node nor rolls one back', () => {
    const { v, events } = view();
    v.apply(put(1));
    v.apply(put(3, 'b'));
    v.apply(put(2, 'old'));
    expect(v.get(name)[0].metadata.owner).toBe('b');
    v.apply(del(4));
    v.apply(put(3, 'b'));
    expect(v.get(name)).toEqual([]);
    expect(events).toEqual(['create:a', 'update:b', 'delete:a']);
    // A newer registration after the deregistration counts again.
    v.apply(put(5));
    expect(v.get(name)).toHaveLength(1);
  });

  test('nodes expire on their own TTL, counted from receipt, as one delete per version', () => {
    const { v, events } = view();
    v.apply({ ...put(1), ttlMs: 1000 }, 10_000);
    expect(v.get(name, 10_999)).toHaveLength(1);
    expect(v.get(name, 11_000)).toEqual([]);
    expect(events).toEqual(['create:a', 'delete:a']);
  });
});

describeEngine('nats', 'nats registry specifics', () => {
  const open: NatsRegistry[] = [];
  const make = () => {
    const r = new NatsRegistry({ address: ENGINE_ADDRESSES.nats });
    open.push(r);
    return r;
  };
  afterEach(async () => {
    await killAll();
    await Promise.all(open.splice(0).map((r) => r.close()));
  });

  test('a registry started later learns what others registered before it, and its watcher hears them as creates', async () => {
    const name = uniqueService('late');
    await make().register(record(name, [`${name}-1`, `${name}-2`]), { ttl: 60 });
    const late = make();
    const w = late.watch({ service: name });
    const created = await nextMatching(w, (e) => e.action === 'create', 3000, 'create from the initial query');
    expect(created.service.nodes.map((n) => n.id).sort()).toEqual([`${name}-1`, `${name}-2`]);
    w.stop();
  });

  test('announcements that are not JSON or not records are ignored', async () => {
    const name = uniqueService('junk');
    const r = make();
    await r.listServices();
    const nc = await rawConnection();
    try {
      nc.publish('phobos.registry.watch', 'not json');
      nc.publish('phobos.registry.watch', JSON.stringify({ origin: 'x', seq: 1, action: 'put', ttlMs: 1000, service: { name } }));
      await nc.flush();
    } finally {
      await nc.close();
    }
    await make().register(record(name, [`${name}-1`]), { ttl: 60 });
    await eventually(async () => (await r.getService(name)).length === 1, 3000);
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-1`]);
  });

  test('a service process killed with SIGKILL disappears within its TTL, with a delete event', async () => {
    const name = uniqueService('crash');
    const watcher = make();
    const w = watcher.watch({ service: name });
    const proc = new Child(
      'test/fixtures/service-process.js',
      ['--registry=nats', '--transport=nats', '--broker=nats', '--register_ttl=2s', '--register_interval=1s'],
      { FIXTURE_NAME: name },
    );
    await proc.waitFor(/^READY /, 15_000);
    await nextMatching(w, (e) => e.action === 'create', 3000, 'create');
    proc.kill('SIGKILL');
    const killed = Date.now();
    await proc.exit();
    const gone = await nextMatching(w, (e) => e.action === 'delete', 4000, 'delete after the crash');
    const took = Date.now() - killed;
    console.log(`crashed process (TTL 2 s, renewed every 1 s) deleted from the view ${took} ms after SIGKILL`);
    expect(gone.service.name).toBe(name);
    // TTL 2 s from the last renewal, plus the 250 ms sweep and some room for a loaded machine.
    expect(took).toBeLessThanOrEqual(2000 + 1000);
    expect(await watcher.getService(name)).toEqual([]);
  }, 30_000);
});
