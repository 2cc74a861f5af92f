import { Method, RpcError, Service, type Context } from '../../lib';
import type { Attempt, CallWrapper } from '../../lib/client/types';
import type { PhobosService } from '../../lib/service';
import { newNamespace, stopAll, testService } from '../helpers/services';

/**
 * Fail modes, call wrappers and hedged calls between real services over tcp in one process. A "dead" node is a
 * registry entry pointing at a port nobody listens on: what a crashed node looks like until its TTL runs out.
 */

/** The nodes share one counter, so "the first request anywhere stalls" can be arranged whichever node gets it. */
const shared = { requests: 0, stallFirst: false, aborted: [] as string[] };

@Service({ name: 'work' })
class Work {
  constructor(readonly label: string) {}
  served = 0;

  @Method()
  async who(_req: unknown, ctx: Context): Promise<{ node: string; meta: Record<string, string> }> {
    this.served++;
    const n = ++shared.requests;
    if (shared.stallFirst && n === 1) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          shared.aborted.push(this.label);
          resolve();
        });
      });
    }
    return { node: this.label, meta: { ...ctx.metadata } };
  }

  @Method()
  async boom(): Promise<never> {
    this.served++;
    throw new Error('handler failure');
  }
}

afterEach(async () => {
  await stopAll();
  shared.requests = 0;
  shared.stallFirst = false;
  shared.aborted = [];
});

interface Cluster {
  caller: PhobosService;
  handlers: Work[];
  attempts: Attempt[];
}

/** `live` real nodes plus `dead` registry entries on closed ports, and a caller that records every attempt. */
async function cluster(live: number, dead: number, callerOptions: Parameters<typeof testService>[0] = {}): Promise<Cluster> {
  const namespace = newNamespace();
  const handlers: Work[] = [];
  for (let i = 0; i < live; i++) {
    const h = new Work(`live${i}`);
    handlers.push(h);
    await testService({ name: 'work', namespace }).handle(h).start();
  }
  const attempts: Attempt[] = [];
  const record: CallWrapper = (next) => (a) => {
    attempts.push(a);
    return next(a);
  };
  const caller = testService({ name: 'caller', namespace, callWrappers: [record], ...callerOptions });
  for (let i = 0; i < dead; i++) {
    await caller.registry.register({ name: 'work', version: 'latest', metadata: {}, endpoints: [], nodes: [{ id: `dead${i}`, address: `127.0.0.1:${1 + i}`, metadata: {} }] });
  }
  return { caller, handlers, attempts };
}

describe('fail modes', () => {
  test('failover selects again: every call succeeds although half the nodes are dead', async () => {
    const { caller, attempts } = await cluster(1, 1);
    for (let i = 0; i < 10; i++) {
      await expect(caller.client.call('work', 'who', {}, { failMode: 'failover', retries: 1, strategy: 'roundrobin' })).resolves.toMatchObject({ node: 'live0' });
    }
    const retried = attempts.filter((a) => a.attempt === 1);
    expect(retried.length).toBeGreaterThan(0);
    for (const a of retried) expect(a.node.id).not.toBe(attempts[attempts.indexOf(a) - 1].node.id);
  });

  test('failfast makes one attempt whatever retries says', async () => {
    const { caller, attempts } = await cluster(0, 1);
    const err = await caller.client.call<never>('work', 'who', {}, { failMode: 'failfast', retries: 5 }).catch((e: RpcError) => e);
    expect(err).toMatchObject({ code: 503, id: 'phobos.transport' });
    expect(attempts).toHaveLength(1);
  });

  test('failtry retries the same node retries+1 times', async () => {
    const { caller, attempts } = await cluster(1, 1);
    // Round-robin's first pick is the first node; find a call whose first attempt went to the dead node.
    let err: RpcError | undefined;
    for (let i = 0; i < 4 && !err; i++) {
      attempts.length = 0;
      err = await caller.client.call('work', 'who', {}, { failMode: 'failtry', retries: 2, strategy: 'roundrobin' }).then(() => undefined, (e) => e);
    }
    expect(err).toMatchObject({ code: 503 });
    expect(attempts.map((a) => [a.node.id, a.attempt])).toEqual([
      ['dead0', 0],
      ['dead0', 1],
      ['dead0', 2],
    ]);
  });

  test('a handler error is never retried, in any mode', async () => {
    const { caller, handlers } = await cluster(2, 0);
    for (const failMode of ['failover', 'failtry', 'failbackup'] as const) {
      const err = await caller.client.call<never>('work', 'boom', {}, { failMode, retries: 3 }).catch((e: RpcError) => e);
      expect(err).toMatchObject({ code: 500, id: 'work.boom' });
    }
    expect(handlers[0].served + handlers[1].served).toBe(3);
  });

  test('the deadline covers every attempt: retries stop when it passes', async () => {
    const { caller } = await cluster(0, 2);
    const started = Date.now();
    const err = await caller.client.call<never>('work', 'who', {}, { retries: 1000, timeout: 300 }).catch((e: RpcError) => e);
    expect([408, 503]).toContain(err.code);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('failbackup (hedged calls)', () => {
  test('when one node stalls, the answer comes after about the delay plus the fast node, and the stalled attempt is cancelled', async () => {
    const { caller, attempts } = await cluster(2, 0);
    // Warm both connections first, so the measured call pays no dial.
    await caller.client.call('work', 'who', {}, { strategy: 'roundrobin' });
    await caller.client.call('work', 'who', {}, { strategy: 'roundrobin' });
    shared.stallFirst = true;
    shared.requests = 0;
    attempts.length = 0;
    const started = performance.now();
    const reply = await caller.client.call<{ node: string }>('work', 'who', {}, { failMode: 'failbackup', backupDelay: 50, retries: 1 });
    const elapsed = performance.now() - started;
    console.log(`hedged call answered in ${elapsed.toFixed(1)} ms (backup delay 50 ms, stalled node would take 3000 ms)`);
    expect(elapsed).toBeGreaterThanOrEqual(49);
    expect(elapsed).toBeLessThan(1500);
    expect(attempts.map((a) => a.attempt)).toEqual([0, 1]);
    expect(attempts[0].node.id).not.toBe(attempts[1].node.id);
    expect(reply.node).not.toBe(attempts[0].node.id);
    // The loser's handler saw the cancel frame.
    await waitFor(() => shared.aborted.length === 1);
  });

  test('a fast first answer sends no backup', async () => {
    const { caller, attempts } = await cluster(2, 0);
    await caller.client.call('work', 'who', {}, { failMode: 'failbackup', backupDelay: 1000 });
    expect(attempts).toHaveLength(1);
  });

  test('a retryable failure sends the backup at once', async () => {
    const { caller, attempts } = await cluster(1, 1);
    const started = performance.now();
    for (let i = 0; i < 4; i++) {
      await expect(caller.client.call('work', 'who', {}, { failMode: 'failbackup', backupDelay: 2000, strategy: 'roundrobin' })).resolves.toMatchObject({ node: 'live0' });
    }
    expect(attempts.some((a) => a.node.id === 'dead0')).toBe(true);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('call wrappers', () => {
  test('run once per attempt, see the chosen node and may add metadata', async () => {
    const namespace = newNamespace();
    await testService({ name: 'work', namespace }).handle(new Work('only')).start();
    const seen: string[] = [];
    const tag: CallWrapper = (next) => (a) => {
      seen.push(`${a.service}.${a.endpoint}@${a.node.id}#${a.attempt}`);
      return next({ ...a, metadata: { ...a.metadata, 'x-tenant': 'acme' } });
    };
    const caller = testService({ name: 'caller', namespace, callWrappers: [tag] });
    const reply = await caller.client.call<{ meta: Record<string, string> }>('work', 'who', {}, { metadata: { a: '1' } });
    expect(reply.meta).toMatchObject({ a: '1', 'x-tenant': 'acme' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^work\.who@work-[0-9a-f]+#0$/);
  });
});

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
