import { Child, killAll } from '../helpers/process';
import { expectPubsubOutput } from '../helpers/examples';

/**
 * The greeter examples as smoke tests, each in real processes on the zero-server defaults (mDNS on loopback, tcp,
 * p2p broker). They share the service name "greeter", so they run one after another in this file.
 */

afterEach(killAll);

describe('greeter examples', () => {
  test('npm start demo: a server process and a client process, the reply printed', async () => {
    const demo = new Child('examples/greeter/demo.js');
    const { code } = await demo.exit(20_000);
    const out = demo.lines.join('\n');
    expect(code).toBe(0);
    expect(out).toMatch(/\[client\] reply: Hello, World! \(from pid \d+\)/);
    expect(out).toContain('[client] 2 + 3 = 5');
    expect(out).toMatch(/\[client\] validation: 400 invalid request: name:/);
  });

  test('a Function serves one request, deregisters and exits 0', async () => {
    const fn = new Child('examples/greeter/function.js');
    await fn.waitFor(/waiting for one request/);
    const client = new Child('examples/greeter/client.js', [], { GREETER_NAME: 'Function' });
    await client.waitFor(/reply: Hello, Function!/);
    expect(await fn.exit()).toEqual({ code: 0, signal: null });
    // The function answered only the first call; the client's next one finds no greeter left.
    const { code } = await client.exit();
    expect(code).toBe(1);
    expect(client.errLines.join('\n')).toMatch(/call failed: 503/);
  });

  test('pub/sub: the queue group splits events, the subscriber without a queue gets them all', async () => {
    const pubsub = new Child('examples/greeter/pubsub.js');
    const { code } = await pubsub.exit(20_000);
    const out = pubsub.lines.join('\n');
    expect(code).toBe(0);
    expectPubsubOutput(out, 'both');
  });
});
