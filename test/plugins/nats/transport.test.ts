import { CODEC_IDS } from '../../../lib/codec/codec';
import { RpcError } from '../../../lib/errors';
import { pluginFactory } from '../../../lib/plugins';
import { resolveConfig } from '../../../lib/flags';
import { silentLogger } from '../../../lib/observe/logger';
import { type Listener, MessageKind, type Message, type RequestHandler, responseTo } from '../../../lib/transport/transport';
import { NatsTransport } from '../../../plugins/nats';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { eventually } from '../../helpers/process';
import { rawConnection } from './helpers';

/** What the NATS transport does beyond the conformance suite: service subjects, max_payload, bad frames, the catalog. */

const request = (body: Buffer | string, over: Partial<Message> = {}): Message => ({
  kind: MessageKind.request,
  id: 0,
  codec: 2,
  service: 'natsplug',
  endpoint: 'Echo.echo',
  timeout: 0,
  metadata: undefined,
  error: false,
  body: Buffer.from(body),
  ...over,
});

const text = (m: Message): string => Buffer.from(m.body).toString();

describeEngine('nats', 'nats transport specifics', () => {
  const transports: NatsTransport[] = [];
  const make = () => {
    const t = new NatsTransport({ address: ENGINE_ADDRESSES.nats });
    transports.push(t);
    return t;
  };
  async function serve(service: string, handler: RequestHandler): Promise<Listener> {
    return make().listen('127.0.0.1:0', handler, { service });
  }

  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close()));
  });

  test('callers of the service subject are balanced over its nodes by the queue group, each request answered once', async () => {
    const service = `natsplug-${process.pid}-balance`;
    const seen = [0, 0];
    for (const i of [0, 1]) {
      await serve(service, (req, reply) => {
        seen[i]++;
        reply(responseTo(req, Buffer.from(`node${i}`), false));
      });
    }
    const socket = await make().dial(`phobos.svc.${service}`);
    const replies = await Promise.all(Array.from({ length: 40 }, () => socket.request(request('hi'), { timeout: 3000 })));
    expect(seen[0] + seen[1]).toBe(40);
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[1]).toBeGreaterThan(0);
    expect(replies.filter((r) => text(r) === 'node0').length).toBe(seen[0]);
  });

  test('an abort of a request sent to the service subject cancels the handler on the node that has it', async () => {
    const service = `natsplug-${process.pid}-cancel`;
    const cancelled = [0, 0];
    let arrived!: () => void;
    const seen = new Promise<void>((r) => (arrived = r));
    for (const i of [0, 1]) {
      await serve(service, (req, _reply, peer) => {
        peer.onCancel(req.id, () => cancelled[i]++);
        arrived();
      });
    }
    const socket = await make().dial(`phobos.svc.${service}`);
    const ac = new AbortController();
    const pending = socket.request(request('hold'), { timeout: 5000, signal: ac.signal }).catch((e: RpcError) => e);
    await seen;
    ac.abort();
    expect(((await pending) as RpcError).code).toBe(499);
    await eventually(() => cancelled[0] + cancelled[1] === 1, 2000);
    expect(cancelled.sort()).toEqual([0, 1]);
  });

  test('a body over NATS max_payload is refused with 413 before it is sent; a reply over it becomes a 413 error reply', async () => {
    let served = 0;
    const listener = await serve('natsplug', (req, reply) => {
      served++;
      reply(responseTo(req, Buffer.alloc(text(req) === 'big-reply' ? 2 * 1024 * 1024 : 2), false));
    });
    const socket = await make().dial(listener.address);
    const err = await socket.request(request(Buffer.alloc(1024 * 1024 + 1)), { timeout: 2000 }).catch((e: RpcError) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe(413);
    expect((err as RpcError).detail).toMatch(/max_payload/);
    const reply = await socket.request(request('big-reply', { codec: CODEC_IDS.json }), { timeout: 2000 });
    expect(reply.error).toBe(true);
    expect(JSON.parse(text(reply))).toMatchObject({ code: 413, detail: expect.stringMatching(/reply not sendable/) });
    expect(served).toBe(1);
  });

  test('garbage on a node subject is dropped and the listener keeps serving', async () => {
    const listener = await serve('natsplug', (req, reply) => reply(responseTo(req, Buffer.from('ok'), false)));
    const nc = await rawConnection();
    try {
      // Not a frame at all, a frame cut short, and a request without a reply subject.
      const reply = await nc.request(listener.address, Buffer.from('not a frame'), { timeout: 300 }).catch((e: Error) => e);
      expect(reply).toBeInstanceOf(Error);
      nc.publish(listener.address, Buffer.from([0x50, 0x48, 1, 0, 0, 2, 0, 0, 0, 1]));
      await nc.flush();
    } finally {
      await nc.close();
    }
    const socket = await make().dial(listener.address);
    expect(text(await socket.request(request('x'), { timeout: 2000 }))).toBe('ok');
  });

  test('the catalog builds it from --transport=nats and --transport_address', async () => {
    const config = resolveConfig({}, ['--transport=nats', `--transport_address=nats://${ENGINE_ADDRESSES.nats}`], {});
    const transport = pluginFactory('transport', config.transport)({ config, logger: silentLogger, options: {} });
    expect(transport).toBeInstanceOf(NatsTransport);
    transports.push(transport as NatsTransport);
    const listener = await transport.listen('127.0.0.1:0', (req, reply) => reply(responseTo(req, Buffer.from('via catalog'), false)), { service: 'natsplug' });
    const socket = await transport.dial(listener.address);
    expect(text(await socket.request(request('x'), { timeout: 2000 }))).toBe('via catalog');
  });

  test('with NATS unreachable, listen and dial fail with 503 within the connect timeout', async () => {
    const t = new NatsTransport({ address: '127.0.0.1:1', connectTimeout: 500 });
    transports.push(t);
    const started = Date.now();
    const errs = await Promise.all([
      t.listen('127.0.0.1:0', () => undefined).catch((e: RpcError) => e),
      t.dial('phobos.rpc.nobody.x', { connectTimeout: 500 }).catch((e: RpcError) => e),
    ]);
    expect(errs.map((e) => (e as RpcError).code)).toEqual([503, 503]);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
