import { describeEngine, EngineInstance } from '../../helpers/engines';
import { Child, killAll } from '../../helpers/process';
import { inspector } from './helpers';
import { expectPubsubOutput } from '../../helpers/examples';

/**
 * The greeter examples with `--broker=redis --registry=redis`, in real processes, on a private redis-server (the
 * examples use fixed names: "greeter", topic "user.created", queue "workers", which must not meet other runs).
 */

describeEngine('redis', 'greeter examples on redis', () => {
  let server: EngineInstance;
  beforeAll(async () => {
    server = await EngineInstance.start('redis');
  });
  afterEach(killAll);
  afterAll(() => server?.destroy());

  const flags = () => ['--registry=redis', '--broker=redis', `--registry_address=${server.address}`, `--broker_address=${server.address}`];

  test('a server process and a client process: the client finds the server through redis and gets its reply', async () => {
    const greeter = new Child('examples/greeter/server.js', flags());
    const [, address] = await greeter.waitFor(/greeter listening on (\S+)/, 15_000);
    const client = new Child('examples/greeter/client.js', flags(), { GREETER_NAME: 'Redis' });
    const { code } = await client.exit(15_000);
    const out = client.lines.join('\n');
    expect(code).toBe(0);
    expect(out).toMatch(/reply: Hello, Redis! \(from pid \d+\)/);
    expect(out).toContain('2 + 3 = 5');
    expect(out).toMatch(/validation: 400/);
    // The server's node is in redis under the default prefix, and leaves it when the server stops.
    const redis = inspector(server.address);
    try {
      expect(await redis.smembers('phobos:registry:services')).toEqual(['greeter']);
      const [record] = Object.values(await redis.hgetall('phobos:registry:nodes:greeter')).map((j) => JSON.parse(j));
      expect(record.nodes[0].address).toBe(address);
      greeter.kill('SIGTERM');
      expect(await greeter.exit(15_000)).toEqual({ code: 0, signal: null });
      expect(await redis.smembers('phobos:registry:services')).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  test('pubsub.js: the queue group splits the events, the subscriber without a queue gets them all', async () => {
    // pubsub.js forks its subscribers with only `--role`, so the parts are chosen through the env twins of the flags.
    const env = {
      PHOBOS_BROKER: 'redis',
      PHOBOS_REGISTRY: 'redis',
      PHOBOS_BROKER_ADDRESS: server.address,
      PHOBOS_REGISTRY_ADDRESS: server.address,
    };
    const pubsub = new Child('examples/greeter/pubsub.js', [], env);
    const { code } = await pubsub.exit(30_000);
    const out = pubsub.lines.join('\n');
    expect(code).toBe(0);
    expectPubsubOutput(out, 'both');
  });
});
