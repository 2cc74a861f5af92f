import { createRegistry, type EtcdRegistry } from '../../../plugins/etcd';
import type { WatchEvent, Watcher } from '../../../lib/registry/registry';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { Child, eventually, killAll, uniqueName } from '../../helpers/process';

/**
 * Real service processes (test/fixtures/service-process.ts) registered in the shared etcd: a SIGKILL leaves the
 * registry when the lease runs out, a SIGTERM at once (the Service deregisters before closing).
 */

const TTL = 2;
const SLACK_MS = 1500;

async function nextEvent(w: Watcher, want: (e: WatchEvent) => boolean, ms: number): Promise<WatchEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no matching watch event within ${ms} ms`)), ms)));
  try {
    for (;;) {
      const r = await Promise.race([w.next(), timeout]);
      if (r.done) throw new Error('watcher ended');
      if (want(r.value)) return r.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

describeEngine('etcd', 'etcd registry with real service processes', () => {
  let registry: EtcdRegistry;
  const watchers: Watcher[] = [];

  beforeEach(() => {
    registry = createRegistry({ hosts: ENGINE_ADDRESSES.etcd });
  });

  afterEach(async () => {
    for (const w of watchers.splice(0)) w.stop();
    await killAll();
    await registry.close();
  });

  function startService(name: string): Child {
    return new Child(
      'test/fixtures/service-process.js',
      ['--registry=etcd', `--registry_address=${ENGINE_ADDRESSES.etcd}`, '--broker=memory', `--register_ttl=${TTL}`, '--register_interval=1'],
      { FIXTURE_NAME: name },
    );
  }

  test('a process killed with SIGKILL leaves the registry within its TTL', async () => {
    const name = uniqueName('etcd-kill');
    const child = startService(name);
    const [, , nodeId] = await child.waitFor(/READY (\S+) (\S+)/, 15_000);
    const found = await eventually(async () => (await registry.getService(name))[0], 3000);
    expect(found.nodes.map((n) => n.id)).toEqual([nodeId]);
    const w = registry.watch({ service: name });
    watchers.push(w);

    const killed = Date.now();
    child.kill('SIGKILL');
    const gone = await nextEvent(w, (e) => e.action === 'delete', TTL * 1000 + SLACK_MS + 1000);
    const took = Date.now() - killed;
    process.stdout.write(`etcd: SIGKILLed node left the registry after ${took} ms (ttl ${TTL} s)\n`);
    expect(gone.service.nodes.map((n) => n.id)).toEqual([nodeId]);
    expect(took).toBeLessThanOrEqual(TTL * 1000 + SLACK_MS);
    expect(await registry.getService(name)).toEqual([]);
  });

  test('a process stopped with SIGTERM deregisters at once and exits 0', async () => {
    const name = uniqueName('etcd-term');
    const child = startService(name);
    const [, , nodeId] = await child.waitFor(/READY (\S+) (\S+)/, 15_000);
    await eventually(async () => (await registry.getService(name)).length === 1, 3000);
    const w = registry.watch({ service: name });
    watchers.push(w);

    const termed = Date.now();
    child.kill('SIGTERM');
    const gone = await nextEvent(w, (e) => e.action === 'delete', 3000);
    const took = Date.now() - termed;
    process.stdout.write(`etcd: SIGTERMed node left the registry after ${took} ms\n`);
    expect(gone.service.nodes.map((n) => n.id)).toEqual([nodeId]);
    // Well under the TTL: a delete, not an expiry.
    expect(took).toBeLessThan(1000);
    expect(await child.exit()).toEqual({ code: 0, signal: null });
  });
});
