import { fork, type ChildProcess } from 'node:child_process';
import { createService, Service, Subscribe } from '../../lib';
import type { UserCreated } from './greeter';

/**
 * Pub/sub across processes on the zero-server defaults: two workers share the queue "workers" (each event reaches one
 * of them) and an auditor without a queue gets every event. The parent publishes and reports who saw what.
 */

const TOPIC = 'user.created';
const EVENTS = 6;

@Service({ name: 'worker' })
class Worker {
  @Subscribe(TOPIC, { queue: 'workers' })
  async onUser(event: UserCreated): Promise<void> {
    process.send?.({ role: 'worker', pid: process.pid, id: event.id });
  }
}

@Service({ name: 'auditor' })
class Auditor {
  @Subscribe(TOPIC)
  async onUser(event: UserCreated): Promise<void> {
    process.send?.({ role: 'auditor', pid: process.pid, id: event.id });
  }
}

async function child(role: string): Promise<void> {
  const service = createService({ name: role });
  service.handle(role === 'auditor' ? new Auditor() : new Worker());
  service.on('afterStart', () => {
    process.send?.({ ready: true });
  });
  await service.run();
}

async function parent(): Promise<void> {
  const roles = ['worker', 'worker', 'auditor'];
  const children: ChildProcess[] = [];
  const seen: { role: string; pid: number; id: string }[] = [];
  const ready = roles.map((role) => {
    // The children get the parent's flags (--broker=... and the rest), so the whole example runs on one broker.
    const c = fork(__filename, [...process.argv.slice(2), `--role=${role}`], { stdio: 'inherit' });
    children.push(c);
    return new Promise<void>((resolve) =>
      c.on('message', (m: { ready?: boolean; role: string; pid: number; id: string }) => (m.ready ? resolve() : seen.push(m))),
    );
  });
  const publisher = createService({ name: 'publisher' });
  try {
    await Promise.all(ready);
    for (let i = 1; i <= EVENTS; i++) await publisher.publish(TOPIC, { id: `u${i}`, name: `user ${i}` });
    const deadline = Date.now() + 5000;
    while (seen.length < EVENTS * 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const count = (role: string) => seen.filter((s) => s.role === role);
    const byWorker = new Map<number, number>();
    for (const s of count('worker')) byWorker.set(s.pid, (byWorker.get(s.pid) ?? 0) + 1);
    console.log(`published ${EVENTS} events`);
    console.log(`workers (queue "workers") handled ${count('worker').length}: ${[...byWorker.values()].join(' + ')}`);
    console.log(`auditor (no queue) handled ${count('auditor').length}`);
  } finally {
    await publisher.stop();
    for (const c of children) c.kill('SIGTERM');
  }
}

const role = process.argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);
void (role ? child(role) : parent());
