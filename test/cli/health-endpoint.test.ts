import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Method, Service } from '../../lib';
import { probeNode } from '../../lib/cli/commands/health';
import { CODEC_IDS, CodecTable } from '../../lib/codec';
import { HEALTH_ENDPOINT } from '../../lib/server/server';
import { TcpTransport } from '../../lib/transport/tcp';
import { MessageKind, type ClientSocket, type Message } from '../../lib/transport/transport';
import { stopAll, testService } from '../helpers/services';

/** The reserved health endpoint over a real tcp connection, and the CLI's probe of it. */

class Gate {
  private openers: (() => void)[] = [];
  wait = (): Promise<void> => new Promise((resolve) => this.openers.push(resolve));
  open(): void {
    for (const o of this.openers.splice(0)) o();
  }
  get waiting(): number {
    return this.openers.length;
  }
}

@Service({ name: 'healthy' })
class Healthy {
  readonly gate = new Gate();

  @Method()
  async hold(): Promise<string> {
    await this.gate.wait();
    return 'released';
  }

  @Method()
  async ping(): Promise<string> {
    return 'pong';
  }
}

const codecs = new CodecTable();
const transport = new TcpTransport();
let socket: ClientSocket | undefined;

afterEach(async () => {
  socket?.close();
  socket = undefined;
  await stopAll();
});

function frame(service: string, endpoint: string, codec: number = CODEC_IDS.msgpack): Message {
  return { kind: MessageKind.request, id: 0, codec, service, endpoint, timeout: 2000, metadata: undefined, error: false, body: codecs.get(codec)!.encode({}) };
}

async function ask(address: string, service: string, endpoint: string, codec?: number): Promise<{ error: boolean; codec: number; value: any }> {
  socket ??= await transport.dial(address);
  const reply = await socket.request(frame(service, endpoint, codec), { timeout: 2000 });
  return { error: reply.error, codec: reply.codec, value: codecs.get(reply.codec)!.decode(reply.body) };
}

async function started() {
  const handler = new Healthy();
  const service = testService({ name: 'healthy' }).handle(handler);
  await service.start();
  return { service, handler, address: service.address! };
}

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the health endpoint', () => {
  test('answers serving, in the caller codec, counting the requests in flight but not itself', async () => {
    const { service, handler, address } = await started();
    const idle = await ask(address, 'healthy', HEALTH_ENDPOINT);
    expect(idle.error).toBe(false);
    expect(idle.codec).toBe(CODEC_IDS.msgpack);
    expect(idle.value).toMatchObject({ status: 'serving', service: 'healthy', inFlight: 0 });
    expect(idle.value.uptime).toBeGreaterThan(0);

    const held = [service.client.call('healthy', 'hold', {}, { timeout: 5000 }), service.client.call('healthy', 'hold', {}, { timeout: 5000 })];
    await until(() => handler.gate.waiting === 2);
    const busy = await ask(address, 'healthy', HEALTH_ENDPOINT, CODEC_IDS.json);
    expect(busy.codec).toBe(CODEC_IDS.json);
    expect(busy.value).toMatchObject({ status: 'serving', inFlight: 2 });
    expect(busy.value.uptime).toBeGreaterThanOrEqual(idle.value.uptime);
    handler.gate.open();
    expect(await Promise.all(held)).toEqual(['released', 'released']);
  });

  test('while draining it answers draining, while every other request gets 503', async () => {
    const { service, handler, address } = await started();
    const held = service.client.call('healthy', 'hold', {}, { timeout: 5000 });
    await until(() => handler.gate.waiting === 1);
    const drained = service.server.drain(5000);

    const health = await ask(address, 'healthy', HEALTH_ENDPOINT);
    expect(health).toMatchObject({ error: false, value: { status: 'draining', service: 'healthy', inFlight: 1 } });
    const refused = await ask(address, 'healthy', 'ping');
    expect(refused).toMatchObject({ error: true, value: { code: 503 } });

    handler.gate.open();
    await expect(held).resolves.toBe('released');
    await expect(drained).resolves.toBe(true);
  });

  test('a service the server does not serve is a 404, as for any endpoint', async () => {
    const { address } = await started();
    const reply = await ask(address, 'someone-else', HEALTH_ENDPOINT);
    expect(reply).toMatchObject({ error: true, value: { code: 404, detail: 'unknown service someone-else' } });
  });

  test('is not listed in the registry record, and cannot be declared by a handler', async () => {
    const { service } = await started();
    const [record] = await service.registry.getService('healthy');
    expect(record.endpoints.map((e) => e.name).sort()).toEqual(['hold', 'ping']);

    @Service({ name: 'sneaky' })
    class Sneaky {
      @Method({ name: HEALTH_ENDPOINT })
      async fake(): Promise<string> {
        return 'fine, honest';
      }
    }
    expect(() => testService({ name: 'sneaky' }).handle(new Sneaky())).toThrow('endpoint name phobos.health is reserved for health checks (sneaky)');
  });

  test("the CLI's probe: serving with an rtt, timeout for a node that accepts but never answers, unreachable for a closed port", async () => {
    const { address, service } = await started();
    const node = { id: 'n1', address, metadata: { transport: 'tcp' }, version: '1.0.0' };
    const ok = await probeNode(transport, codecs, 'healthy', node, 1000);
    expect(ok).toMatchObject({ node: 'n1', address, version: '1.0.0', status: 'serving', inFlight: 0 });
    expect(ok.rtt).toBeGreaterThan(0);

    // A listener that accepts connections and reads nothing: a frozen process, as the kernel presents it.
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentAddress = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const started2 = Date.now();
    const frozen = await probeNode(transport, codecs, 'healthy', { ...node, address: silentAddress }, 300);
    const took = Date.now() - started2;
    expect(frozen).toMatchObject({ status: 'timeout', detail: 'no answer within 300 ms' });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1500);
    for (const s of held) s.destroy();
    await new Promise((r) => silent.close(r));

    const closed = await probeNode(transport, codecs, 'healthy', { ...node, address: silentAddress }, 1000);
    expect(closed.status).toBe('unreachable');

    const other = await probeNode(transport, codecs, 'healthy', { ...node, metadata: { transport: 'nats' } }, 1000);
    expect(other).toMatchObject({ status: 'error', detail: 'served over nats; run with --transport=nats' });
    await service.stop();
  });
});
