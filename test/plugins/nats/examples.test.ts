import { describeEngine } from '../../helpers/engines';
import { Child, killAll } from '../../helpers/process';
import { expectPubsubOutput } from '../../helpers/examples';

/**
 * The greeter examples as real processes with every engine part on NATS (127.0.0.1:4222): a server and a client found
 * through the NATS registry and called over the NATS transport, and the pub/sub example over the NATS broker.
 * (`--registry=etcd --transport=nats --broker=nats` is checked once the etcd plugin is merged.)
 */

const NATS_FLAGS = ['--registry=nats', '--transport=nats', '--broker=nats'];

afterEach(killAll);

describeEngine('nats', 'greeter examples on NATS', () => {
  test('server and client: found through the NATS registry, called over the NATS transport', async () => {
    const server = new Child('examples/greeter/server.js', NATS_FLAGS);
    const [, address] = await server.waitFor(/greeter listening on (\S+)/, 15_000);
    expect(address).toMatch(/^phobos\.rpc\.greeter\.[0-9a-f]+$/);
    const client = new Child('examples/greeter/client.js', NATS_FLAGS, { GREETER_NAME: 'NATS' });
    const { code } = await client.exit(15_000);
    const out = client.lines.join('\n');
    expect(client.errLines.join('\n')).not.toMatch(/call failed/);
    expect(code).toBe(0);
    expect(out).toMatch(/reply: Hello, NATS! \(from pid \d+\)/);
    expect(out).toContain(`(from pid ${server.proc.pid})`);
    expect(out).toContain('2 + 3 = 5');
    expect(out).toMatch(/validation: 400 invalid request: name:/);
    server.kill('SIGTERM');
    expect((await server.exit()).code).toBe(0);
  }, 40_000);

  test('pub/sub: the queue group splits the events, the subscriber without a queue gets them all', async () => {
    const pubsub = new Child('examples/greeter/pubsub.js', NATS_FLAGS);
    const { code } = await pubsub.exit(25_000);
    const out = pubsub.lines.join('\n');
    expect(code).toBe(0);
    expectPubsubOutput(out, 'any');
  }, 40_000);
});
