import { randomBytes } from 'node:crypto';
import type { Registry, ServiceRecord, WatchEvent, Watcher } from '../../lib/registry/registry';

/**
 * The Registry conformance suite: every registry (memory, mdns, etcd, nats, redis) runs these same tests, so
 * register, deregister, watch and TTL expiry mean the same thing whichever one a flag picks. Each test uses service
 * names of its own, so suites of different registries may share an engine and run side by side.
 */

export interface RegistryHarness {
  /** A new registry client on the shared store: what another process with the same flags would get. */
  make(): Registry | Promise<Registry>;
  /** TTL (whole seconds) used by the expiry tests: the smallest the registry honours well. */
  ttl: number;
  /** How long past the TTL expiry may take to be noticed (ms). */
  expirySlackMs: number;
  /** How long a change may take to reach another client (ms). */
  propagationMs?: number;
  /**
   * Stops `registry` the way a crashed process stops: no more renewals and no goodbye. Default: close(), for
   * registries whose close() only releases connections (their entries then live out their TTL).
   */
  crash?(registry: Registry): Promise<void>;
}

export function uniqueService(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function record(name: string, nodeIds: string[], version = '1.0.0', extra: Record<string, string> = {}): ServiceRecord {
  return {
    name,
    version,
    metadata: { owner: 'team-a', ...extra },
    endpoints: [
      {
        name: 'Greeter.hello',
        request: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        response: { type: 'object', properties: { msg: { type: 'string' } } },
        metadata: { stream: 'false' },
      },
    ],
    nodes: nodeIds.map((id, i) => ({ id, address: `127.0.0.1:${41000 + i}`, metadata: { transport: 'tcp', zone: `z${i}` } })),
  };
}

const sorted = (services: ServiceRecord[]): ServiceRecord[] =>
  services
    .map((s) => ({ ...s, nodes: [...s.nodes].sort((a, b) => a.id.localeCompare(b.id)) }))
    .sort((a, b) => a.version.localeCompare(b.version));

async function until<T>(what: string, ms: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await check().catch((err: unknown) => ((last = err), undefined));
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`registry: ${what} not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The next event from `w` matching `pred`, or an error naming what was awaited after `ms`. */
export async function nextMatching(w: Watcher, pred: (e: WatchEvent) => boolean, ms: number, what: string): Promise<WatchEvent> {
  const seen: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`watch: no ${what} within ${ms} ms; saw ${seen.join(', ') || 'nothing'}`)), ms);
  });
  try {
    for (;;) {
      const r = await Promise.race([w.next(), timeout]);
      if (r.done) throw new Error(`watch ended before ${what}; saw ${seen.join(', ') || 'nothing'}`);
      seen.push(`${r.value.action} ${r.value.service.name}@${r.value.service.version}[${r.value.service.nodes.map((n) => n.id).join(' ')}]`);
      if (pred(r.value)) return r.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

export function registryConformance(harness: RegistryHarness): void {
  const open: Registry[] = [];
  const watchers: Watcher[] = [];
  const propagation = harness.propagationMs ?? 3000;
  async function client(): Promise<Registry> {
    const r = await harness.make();
    open.push(r);
    return r;
  }
  function watch(r: Registry, service?: string): Watcher {
    const w = r.watch(service ? { service } : undefined);
    watchers.push(w);
    return w;
  }

  afterEach(async () => {
    for (const w of watchers.splice(0)) w.stop();
    await Promise.all(open.splice(0).map((r) => r.close()));
  });

  describe('registry conformance', () => {
    test('what one client registers another finds, exactly, and lists', async () => {
      const [a, b] = [await client(), await client()];
      const name = uniqueService('conf-find');
      const rec = record(name, [`${name}-1`, `${name}-2`]);
      await a.register(rec, { ttl: 60 });
      const found = await until('the record on the other client', propagation, async () => {
        const s = await b.getService(name);
        return s.length === 1 && s[0].nodes.length === 2 && s;
      });
      expect(sorted(found)).toEqual([rec]);
      const listed = await until('the service in listServices', propagation, async () => {
        const all = await b.listServices();
        return all.some((s) => s.name === name) && all;
      });
      expect(listed.filter((s) => s.name === name).map((s) => s.version)).toEqual(['1.0.0']);
      await a.deregister(rec);
    });

    test('an unknown service is an empty list, not an error', async () => {
      const r = await client();
      await expect(r.getService(uniqueService('conf-nobody'))).resolves.toEqual([]);
    });

    test('versions are kept apart; nodes of one version are merged', async () => {
      const [a, b] = [await client(), await client()];
      const name = uniqueService('conf-versions');
      const v1 = record(name, [`${name}-a`], '1.0.0');
      const v1b = record(name, [`${name}-b`], '1.0.0');
      const v2 = record(name, [`${name}-c`], '2.0.0');
      await a.register(v1, { ttl: 60 });
      await a.register(v1b, { ttl: 60 });
      await a.register(v2, { ttl: 60 });
      const found = await until('two versions, three nodes', propagation, async () => {
        const s = await b.getService(name);
        return s.length === 2 && s.reduce((n, x) => n + x.nodes.length, 0) === 3 && s;
      });
      expect(sorted(found)).toEqual([{ ...v1, nodes: [...v1.nodes, ...v1b.nodes] }, v2]);
      await a.deregister(v1);
      await a.deregister(v1b);
      await a.deregister(v2);
    });

    test('deregistering one node keeps its siblings; deregistering the last removes the service', async () => {
      const [a, b] = [await client(), await client()];
      const name = uniqueService('conf-dereg');
      const both = record(name, [`${name}-1`, `${name}-2`]);
      await a.register(both, { ttl: 60 });
      await until('both nodes', propagation, async () => (await b.getService(name))[0]?.nodes.length === 2);
      await a.deregister({ ...both, nodes: [both.nodes[0]] });
      const left = await until('one node left', propagation, async () => {
        const s = await b.getService(name);
        return s.length === 1 && s[0].nodes.length === 1 && s;
      });
      expect(left[0].nodes.map((n) => n.id)).toEqual([`${name}-2`]);
      await a.deregister({ ...both, nodes: [both.nodes[1]] });
      await until('the service gone', propagation, async () => (await b.getService(name)).length === 0);
      await until('gone from the list', propagation, async () => !(await b.listServices()).some((s) => s.name === name));
    });

    test('a watcher sees create, update and delete, and only for the service it asked for', async () => {
      const [a, b] = [await client(), await client()];
      const name = uniqueService('conf-watch');
      const other = uniqueService('conf-other');
      const w = watch(b, name);
      const all = watch(b);
      // Registries that watch through a subscription may need a moment before it is live: register until seen.
      const first = record(name, [`${name}-1`]);
      await a.register(first, { ttl: 60 });
      const created = await nextMatching(w, (e) => e.service.name === name, propagation, `create of ${name}`);
      expect(created.action).toBe('create');
      expect(created.service.nodes.map((n) => n.id)).toEqual([`${name}-1`]);
      expect(created.service.endpoints).toEqual(first.endpoints);

      await a.register(record(other, [`${other}-1`]), { ttl: 60 });
      await nextMatching(all, (e) => e.service.name === other, propagation, `an event of ${other} on the unfiltered watcher`);

      const changed = record(name, [`${name}-1`], '1.0.0', { owner: 'team-b' });
      await a.register(changed, { ttl: 60 });
      const updated = await nextMatching(w, (e) => e.action !== 'create' || e.service.metadata.owner === 'team-b', propagation, 'update');
      expect(updated.action).toBe('update');
      expect(updated.service.metadata.owner).toBe('team-b');

      await a.deregister(changed);
      const deleted = await nextMatching(w, (e) => e.action === 'delete', propagation, 'delete');
      expect(deleted.service.name).toBe(name);
      expect(deleted.service.nodes.map((n) => n.id)).toEqual([`${name}-1`]);
      await a.deregister(record(other, [`${other}-1`]));
      // The filtered watcher never saw the other service.
      w.stop();
      const rest: WatchEvent[] = [];
      for await (const e of w) rest.push(e);
      expect(rest.filter((e) => e.service.name !== name)).toEqual([]);
    });

    test('stop() ends a watcher: a pending next() resolves done', async () => {
      const r = await client();
      const w = watch(r, uniqueService('conf-stop'));
      const pending = w.next();
      w.stop();
      await expect(pending).resolves.toMatchObject({ done: true });
    });

    test('a node that is not renewed expires within its TTL, and watchers hear of it', async () => {
      const [a, b] = [await client(), await client()];
      const name = uniqueService('conf-ttl');
      const w = watch(b, name);
      const rec = record(name, [`${name}-1`]);
      const registered = Date.now();
      await a.register(rec, { ttl: harness.ttl });
      await until('the registered node', propagation, async () => (await b.getService(name)).length === 1);
      // Stop renewing, as a crashed process would: no keep-alives, no goodbye.
      open.splice(open.indexOf(a), 1);
      await (harness.crash ? harness.crash(a) : a.close());
      const limit = harness.ttl * 1000 + harness.expirySlackMs;
      await nextMatching(w, (e) => e.action === 'delete' && e.service.nodes.some((n) => n.id === `${name}-1`), limit + 1000, 'expiry delete');
      const took = Date.now() - registered;
      expect(took).toBeLessThanOrEqual(limit + 1000);
      expect(await b.getService(name)).toEqual([]);
    });

    test('renewing before the TTL passes keeps a node alive past it', async () => {
      const [a, b] = [await client(), await client()];
      const name = uniqueService('conf-renew');
      const rec = record(name, [`${name}-1`]);
      const ttlMs = harness.ttl * 1000;
      const end = Date.now() + ttlMs * 2;
      await a.register(rec, { ttl: harness.ttl });
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, ttlMs / 3));
        await a.register(rec, { ttl: harness.ttl });
        expect((await b.getService(name)).map((s) => s.nodes.length)).toEqual([1]);
      }
      await a.deregister(rec);
    });
  });
}
