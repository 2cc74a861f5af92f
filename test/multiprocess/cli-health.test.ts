import { describeEngine, ENGINE_ADDRESSES } from '../helpers/engines';
import { killAll, uniqueName } from '../helpers/process';
import { cli, fixture } from '../cli/run-cli';

afterEach(killAll);

/** `phobos health` against real service processes, over real sockets. */

const LINE = (node: string, address: string, status: string) =>
  new RegExp(`^${node}\\s+${address.replace(/\./g, '\\.')}\\s+${status}\\s+inflight \\d+\\s+uptime \\d+s\\s+rtt \\d+\\.\\d+ms$`);

describe('phobos health (default registry)', () => {
  test('every node serving: one line per node, exit 0', async () => {
    const name = uniqueName('cli-health');
    const [a, b] = await Promise.all([fixture(name), fixture(name)]);
    const r = await cli(['health', name]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines).toHaveLength(2);
    const byNode = [a, b].sort((x, y) => x.node.localeCompare(y.node));
    expect(lines[0]).toMatch(LINE(byNode[0].node, byNode[0].address, 'serving'));
    expect(lines[1]).toMatch(LINE(byNode[1].node, byNode[1].address, 'serving'));

    const json = await cli(['health', name, '--json']);
    expect(json.code).toBe(0);
    const results = JSON.parse(json.out) as { node: string; status: string; inFlight: number; uptime: number; rtt: number }[];
    expect(results.map((x) => x.node).sort()).toEqual(byNode.map((x) => x.node));
    for (const x of results) {
      expect(x).toMatchObject({ status: 'serving', inFlight: 0, version: '1.0.0' });
      expect(x.uptime).toBeGreaterThan(0);
      expect(x.rtt).toBeGreaterThan(0);
    }
  });

  test('a draining node is reported draining, and the command exits 1', async () => {
    const name = uniqueName('cli-health-drain');
    const node = await fixture(name);
    expect((await cli(['call', name, 'drain'])).code).toBe(0);
    const r = await cli(['health', name]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(LINE(node.node, node.address, 'draining'));
    // Everything but the probe is refused meanwhile.
    const refused = await cli(['call', name, 'echo', '{}', '--client_retries=0']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.err)).toMatchObject({ code: 503 });
  });

  test('an unknown service: exit 1 and says so', async () => {
    const name = uniqueName('cli-health-none');
    const r = await cli(['health', name]);
    expect(r).toMatchObject({ code: 1, out: '', err: `phobos: service ${name} not found` });
  });
});

/**
 * A frozen or dead node stays in a registry with leases until its TTL passes, which is what health is for (on the
 * mDNS default, a frozen node cannot answer the lookup and so is not listed at all).
 */
describeEngine('etcd', 'phobos health (etcd: nodes that stopped answering)', () => {
  const flags = ['--registry=etcd', `--registry_address=${ENGINE_ADDRESSES.etcd}`];

  test('a SIGSTOPped node times out within --timeout, a killed one is unreachable; exit 1', async () => {
    const name = uniqueName('cli-health-stop');
    // A short TTL so the dead node's registration does not outlive the test by long.
    const serving = [...flags, '--register_ttl=15s', '--register_interval=5s'];
    const [ok, frozen, dead] = await Promise.all([fixture(name, serving), fixture(name, serving), fixture(name, serving)]);
    const healthy = await cli(['health', name, '--timeout', '1s', ...flags]);
    expect(healthy.code).toBe(0);
    expect(healthy.out.split('\n')).toHaveLength(3);

    frozen.child.kill('SIGSTOP');
    dead.child.kill('SIGKILL');
    await dead.child.exited;
    try {
      const r = await cli(['health', name, '--timeout', '1s', ...flags]);
      expect(r.code).toBe(1);
      const line = (n: { node: string }) => r.out.split('\n').find((l) => l.startsWith(`${n.node} `));
      expect(line(ok)).toMatch(LINE(ok.node, ok.address, 'serving'));
      expect(line(frozen)).toMatch(new RegExp(`^${frozen.node}\\s+\\S+\\s+timeout\\s+no answer within 1000 ms$`));
      expect(line(dead)).toMatch(new RegExp(`^${dead.node}\\s+\\S+\\s+unreachable\\s+503 connect to ${dead.address.replace(/\./g, '\\.')} failed`));
      // The nodes are probed side by side: the frozen one costs its timeout once, not more.
      expect(r.ms - healthy.ms).toBeLessThan(2500);
    } finally {
      frozen.child.kill('SIGCONT');
    }
  });
});
