import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { resolve } from 'node:path';
import { createRegistry } from '../../../plugins/mdns';
import type { MdnsRegistry } from '../../../plugins/mdns';
import { eventWhere, serviceRecord, uniqueName, waitFor } from '../../fixtures/mdns-helpers';

/**
 * Real processes on loopback multicast. Fixtures run from dist/ (built by jest's globalSetup) with plain node, so no
 * test tooling sits between them and the socket.
 */

const FIXTURES = resolve(__dirname, '../../../dist/test/fixtures');

interface Child {
  proc: ChildProcessWithoutNullStreams;
  out: string[];
  exited: Promise<number | null>;
}

const children: Child[] = [];
const registries: MdnsRegistry[] = [];

function start(fixture: string, args: string[]): Child {
  const proc = spawn(process.execPath, [resolve(FIXTURES, fixture), ...args], { stdio: 'pipe' });
  const out: string[] = [];
  let partial = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    out.push(...lines);
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) =>
    proc.once('exit', (code) => {
      if (code) process.stderr.write(`${fixture} exited ${code}: ${stderr}\n`);
      r(code);
    }),
  );
  const child = { proc, out, exited };
  children.push(child);
  return child;
}

afterAll(async () => {
  // Whatever happened, no child outlives the suite.
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  await Promise.all(registries.map((r) => r.close()));
});

describe('MdnsRegistry across processes (loopback)', () => {
  it('finds a service registered by another process within 1 s, and sees it leave on SIGTERM', async () => {
    const name = uniqueName('proc');
    const nodeId = `${name}-child`;
    const child = start('mdns-register.js', [name, nodeId, '30']);
    await waitFor('READY from the child', () => child.out.includes('READY'), 10000);

    // A fresh registry (empty cache, socket not yet bound) must find it within a second of READY.
    const ready = Date.now();
    const registry = createRegistry();
    registries.push(registry);
    const found = await registry.getService(name);
    expect(Date.now() - ready).toBeLessThan(1000);
    expect(found).toEqual([serviceRecord(name, [nodeId])]);

    const w = registry.watch({ service: name });
    const termed = Date.now();
    child.proc.kill('SIGTERM');
    const gone = await eventWhere(w, (e) => e.action === 'delete', 3000);
    // A goodbye, not an expiry: the TTL is 30 s.
    expect(Date.now() - termed).toBeLessThan(1000);
    expect(gone.service.nodes.map((n) => n.id)).toEqual([nodeId]);
    // The child exits on its own after close(): no socket or timer of the registry held it open.
    expect(await child.exited).toBe(0);
    expect(child.out).toContain('BYE');
    w.stop();
  });

  it('a fresh process finds a service registered here within 1 s', async () => {
    const name = uniqueName('here');
    const record = serviceRecord(name, [`${name}-1`, `${name}-2`]);
    const registry = createRegistry();
    registries.push(registry);
    await registry.register(record);
    const child = start('mdns-lookup.js', [name]);
    expect(await child.exited).toBe(0);
    const line = child.out.find((l) => l.startsWith('{'));
    expect(line).toBeDefined();
    const { ms, services } = JSON.parse(line!) as { ms: number; services: typeof record[] };
    expect(ms).toBeLessThan(1000);
    expect(services.map((s) => ({ ...s, nodes: [...s.nodes].sort((a, b) => a.id.localeCompare(b.id)) }))).toEqual([record]);
  });
});
