import { Etcd3 } from 'etcd3';
import { createRegistry, type EtcdRegistry } from '../../../plugins/etcd';
import type { WatchEvent, Watcher } from '../../../lib/registry/registry';
import { record, uniqueService } from '../../conformance/registry';
import { describeEngine, EngineInstance } from '../../helpers/engines';
import { eventually } from '../../helpers/process';

/**
 * A private etcd, killed and started again with its data wiped, under registries that keep running: lookups keep
 * answering from the view during the outage, registering fails fast with 503, and once etcd is back the registry
 * puts its nodes back by itself on a fresh lease. Watchers see the truth (a node may go and come back) but never the
 * same create twice, which a second, resumed watch would cause.
 */

const TTL = 3;
const TIMEOUT_MS = 1000;

describeEngine('etcd', 'etcd registry through an etcd restart with its data wiped', () => {
  let etcd: EngineInstance;
  const open: EtcdRegistry[] = [];
  const registry = () => {
    const r = createRegistry({ hosts: etcd.address, prefix: '/phobos-test/outage', timeout: TIMEOUT_MS });
    open.push(r);
    return r;
  };

  beforeAll(async () => {
    etcd = await EngineInstance.start('etcd');
  }, 30_000);

  afterAll(async () => {
    await Promise.all(open.map((r) => r.close()));
    await etcd?.destroy();
  });

  async function leaseCount(): Promise<number> {
    const raw = new Etcd3({ hosts: etcd.address });
    try {
      return (await raw.leaseClient.leaseLeases()).leases.length;
    } finally {
      raw.close();
    }
  }

  test('lookups answer from the view, registering fails fast, and the registry re-registers by itself', async () => {
    const owner = registry();
    const reader = registry();
    const name = uniqueService('outage');
    const rec = record(name, [`${name}-1`, `${name}-2`]);
    const events: WatchEvent[] = [];
    const w: Watcher = reader.watch({ service: name });
    void (async () => {
      for await (const e of w) events.push(e);
    })();

    // Renewing the same nodes again and again keeps one lease.
    for (let i = 0; i < 5; i++) await owner.register(rec, { ttl: TTL });
    expect(await leaseCount()).toBe(1);
    await eventually(async () => (await reader.getService(name))[0]?.nodes.length === 2, 3000);
    expect(reader.syncs).toBe(1);

    await etcd.destroy(); // SIGKILL, and the data directory goes with it
    const outageStarted = Date.now();

    let t = Date.now();
    const cached = await reader.getService(name);
    const lookupMs = Date.now() - t;
    expect(cached[0].nodes.map((n) => n.id).sort()).toEqual([`${name}-1`, `${name}-2`]);
    expect(lookupMs).toBeLessThan(100);

    t = Date.now();
    await expect(owner.register(record(name, [`${name}-3`]), { ttl: TTL })).rejects.toMatchObject({ code: 503 });
    const registerMs = Date.now() - t;
    expect(registerMs).toBeLessThanOrEqual(TIMEOUT_MS + 200);
    await owner.deregister(record(name, [`${name}-3`])).catch(() => undefined);

    // A client that never read the registry has no view to fall back on: a 503, not a hang.
    t = Date.now();
    await expect(registry().getService(name)).rejects.toMatchObject({ code: 503 });
    const freshMs = Date.now() - t;
    expect(freshMs).toBeLessThan(500);

    // Stay down past the TTL, so the lease would be gone even without the wipe.
    await new Promise((r) => setTimeout(r, TTL * 1000));
    await etcd.start();
    const restarted = Date.now();

    const fresh = registry();
    await eventually(async () => (await fresh.getService(name))[0]?.nodes.length === 2, 15_000, 100);
    const recoveredMs = Date.now() - restarted;
    expect(owner.recoveries).toBeGreaterThanOrEqual(1);
    expect(await leaseCount()).toBe(1);
    await eventually(async () => (await reader.getService(name))[0]?.nodes.length === 2, 5000);
    expect(reader.syncs).toBeGreaterThanOrEqual(2);

    process.stdout.write(
      `etcd outage: cached lookup ${lookupMs} ms, register during outage failed in ${registerMs} ms, ` +
        `cold lookup failed in ${freshMs} ms, outage ${restarted - outageStarted} ms, re-registered ${recoveredMs} ms after etcd restarted\n` +
        `reader saw: ${events.map((e) => `${e.action} ${e.service.nodes[0].id.slice(-1)}`).join(', ')}\n`,
    );
    // Per node, creates and deletes alternate, starting with a create: no create twice in a row.
    for (const id of [`${name}-1`, `${name}-2`]) {
      const actions = events.filter((e) => e.service.nodes[0].id === id && e.action !== 'update').map((e) => e.action);
      expect(actions[0]).toBe('create');
      actions.forEach((a, i) => expect(a).toBe(i % 2 === 0 ? 'create' : 'delete'));
      expect(actions[actions.length - 1]).toBe('create');
    }
    w.stop();
    await owner.deregister(rec);
  }, 60_000);
});
