import { describeEngine } from '../helpers/engines';
import { Child, killAll } from '../helpers/process';
import { expectPubsubOutput } from '../helpers/examples';

/**
 * The headline combination: the unchanged greeter found through etcd, called over NATS, its events on NATS.
 * Each engine alone is covered in test/plugins/<engine>; this checks the parts compose.
 */

const FLAGS = ['--registry=etcd', '--transport=nats', '--broker=nats'];

afterEach(killAll);

describeEngine('etcd', 'greeter on etcd + NATS', () => {
  describeEngine('nats', 'with NATS', () => {
    test('a server and a client process: registered in etcd, called over NATS, gone from etcd on stop', async () => {
      const server = new Child('examples/greeter/server.js', FLAGS);
      const [, address] = await server.waitFor(/greeter listening on (\S+)/, 15_000);
      expect(address).toMatch(/^phobos\.rpc\.greeter\.[0-9a-f]+$/);
      const client = new Child('examples/greeter/client.js', FLAGS, { GREETER_NAME: 'etcd' });
      const { code } = await client.exit(15_000);
      expect(client.errLines.join('\n')).not.toMatch(/call failed/);
      expect(code).toBe(0);
      expect(client.lines.join('\n')).toContain(`reply: Hello, etcd! (from pid ${server.proc.pid})`);
      const describe = async () => {
        const cli = new Child('lib/cli/main.js', ['describe', 'greeter', '--registry=etcd']);
        await cli.exit(15_000);
        return cli.lines.join('\n');
      };
      expect(await describe()).toContain(address);
      server.kill('SIGTERM');
      expect((await server.exit()).code).toBe(0);
      // The graceful stop deleted the node's key at once: a fresh process reading etcd no longer finds it.
      expect(await describe()).not.toContain(address);
    }, 45_000);

    test('pub/sub over NATS with etcd as registry: the queue group handles each event once', async () => {
      const pubsub = new Child('examples/greeter/pubsub.js', FLAGS);
      const { code } = await pubsub.exit(25_000);
      const out = pubsub.lines.join('\n');
      expect(code).toBe(0);
      expectPubsubOutput(out, 'any');
    }, 40_000);
  });
});
