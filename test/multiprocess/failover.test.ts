import { createService, type PhobosService } from '../../lib';
import type { CallWrapper } from '../../lib/client/types';
import { Child, eventually, killAll, uniqueName } from '../helpers/process';

/**
 * Three real server processes under 64 calls in flight; one is killed with SIGKILL in the middle of the run. With
 * failover every call still succeeds (the endpoint is idempotent, so a request lost with the dead node may be sent
 * again), and the dead node stops being chosen: first through the selector's cool-down and breaker, then because its
 * registry entry expires (its TTL is short here; SIGKILL gives it no chance to deregister).
 */

let caller: PhobosService | undefined;
afterEach(async () => {
  await caller?.stop();
  await killAll();
});

test('64 in flight across 3 processes, one SIGKILLed mid-run: zero failed calls, and the dead node leaves selection', async () => {
  const name = uniqueName('failover');
  const flags = ['--register_ttl=2s', '--register_interval=500ms'];
  const servers = [0, 1, 2].map(() => new Child('test/fixtures/service-process.js', flags, { FIXTURE_NAME: name }));
  const ready = await Promise.all(servers.map((s) => s.waitFor(/^READY (\S+) (\S+)/)));
  const victim = servers[1];
  const victimAddress = ready[1][1];

  // Every attempt is recorded with its time and node, so we can see where calls went after the kill.
  const attempts: { at: number; address: string }[] = [];
  const record: CallWrapper = (next) => (a) => {
    attempts.push({ at: Date.now(), address: a.node.address });
    return next(a);
  };
  caller = createService({ name: uniqueName('caller'), argv: [], env: {}, logLevel: 'silent', failMode: 'failover', callWrappers: [record] });
  await eventually(async () => (await caller!.registry.getService(name)).flatMap((r) => r.nodes).length === 3, 5000);

  const byPid = new Map<number, number>();
  const failures: string[] = [];
  let ok = 0;
  let killedAt = 0;
  let stopAt = Infinity;
  const worker = async () => {
    while (Date.now() < stopAt) {
      try {
        const who = await caller!.client.call<{ pid: number }>(name, 'whoami', undefined, { retries: 3, timeout: 3000 });
        ok++;
        byPid.set(who.pid, (byPid.get(who.pid) ?? 0) + 1);
      } catch (err) {
        failures.push(`${(err as { code?: number }).code} ${(err as Error).message}`);
      }
    }
  };
  const workers = Array.from({ length: 64 }, worker);
  // Kill once real load is flowing: every node has answered calls.
  await eventually(() => servers.every((s) => (byPid.get(s.proc.pid!) ?? 0) >= 50), 10_000, 5);
  victim.kill('SIGKILL');
  killedAt = Date.now();
  const okAtKill = ok;
  // Run until the dead node's registry entry has expired, then a while longer.
  await eventually(async () => (await caller!.registry.getService(name)).flatMap((r) => r.nodes).length === 2, 10_000);
  const expiredAt = Date.now();
  stopAt = Date.now() + 1000;
  await Promise.all(workers);

  const toVictim = attempts.filter((a) => a.address === victimAddress);
  const afterKill = toVictim.filter((a) => a.at > killedAt);
  const lastToVictim = afterKill.length ? afterKill[afterKill.length - 1].at - killedAt : 0;
  console.log(
    [
      `calls ok: ${ok} (${ok - okAtKill} after the kill), failed: ${failures.length}`,
      `answered per process: ${[...byPid.entries()].map(([pid, n]) => `${pid}${pid === victim.proc.pid ? ' (killed)' : ''}: ${n}`).join(', ')}`,
      `attempts to the killed node after the kill: ${afterKill.length}, the last ${lastToVictim} ms after it`,
      `registry entry gone ${expiredAt - killedAt} ms after the kill`,
    ].join('\n'),
  );
  expect(failures).toEqual([]);
  expect(ok - okAtKill).toBeGreaterThan(100);
  // The dead node stopped drawing attempts long before its registry entry expired, and none came after.
  expect(afterKill.every((a) => a.at < expiredAt)).toBe(true);
  expect(attempts.filter((a) => a.at > expiredAt && a.address === victimAddress)).toHaveLength(0);
  expect((await victim.exited).signal).toBe('SIGKILL');
}, 60_000);
