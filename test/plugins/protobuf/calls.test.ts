import { join } from 'node:path';
import { IsString, MinLength } from 'class-validator';
import { Method, RpcError, Service, Subscribe, type Context } from '../../../lib';
import { CODEC_IDS } from '../../../lib/codec/codec';
import type { HandlerWrapper } from '../../../lib/server/endpoint';
import { ProtobufCodec } from '../../../plugins/protobuf';
import { eventually } from '../../helpers/process';
import { newNamespace, stopAll, testService } from '../../helpers/services';

/** Phobos calls in protobuf between two real services over tcp (memory registry): replies, errors, events. */

const SHOP = join(__dirname, 'shop.proto');

class Order {
  @IsString()
  @MinLength(1)
  customerId!: string;
}

@Service({ name: 'orders' })
class Orders {
  readonly events: unknown[] = [];

  @Method({ request: Order })
  async place(req: Order, ctx: Context): Promise<object> {
    if (req.customerId === 'taken') throw new RpcError('orders.place', 409, 'order already placed');
    return { orderId: `o-${req.customerId}-${ctx.metadata['x-shop'] ?? ''}`, totalCents: '18446744073709551615', internalNote: 'not in the proto' };
  }

  @Subscribe('order.placed')
  async onPlaced(event: unknown): Promise<void> {
    this.events.push(event);
  }
}

describe('protobuf calls between services', () => {
  let namespace: string;
  let orders: Orders;
  /** Every request as decoded by the server, before validation (wrappers run outside it). */
  const decoded: unknown[] = [];
  const recordRequests: HandlerWrapper = (next) => (req, ctx) => {
    decoded.push(req);
    return next(req, ctx);
  };

  beforeAll(async () => {
    namespace = newNamespace();
    orders = new Orders();
    // The server keeps msgpack as its default and learns protobuf by adding the codec to its table.
    const server = testService({ name: 'orders', namespace, wrappers: [recordRequests] }).handle(orders);
    server.codecs.add(new ProtobufCodec({ protos: SHOP, topics: { 'order.placed': 'shop.OrderPlaced' } }));
    await server.start();
  });

  afterAll(stopAll);

  function caller(codec = 'protobuf') {
    return testService({ name: 'caller', namespace, codec, plugins: { protobuf: { protos: [SHOP], topics: { 'order.placed': 'shop.OrderPlaced' } } } });
  }

  test('--codec=protobuf: the request and reply travel as protobuf (proto3 defaults in, unknown fields out)', async () => {
    const client = caller().client;
    const reply = await client.call('orders', 'place', { customerId: 'ann', items: [{ sku: 'tea', quantity: 2 }] }, { metadata: { 'x-shop': 's1' } });
    // uint64 max survives as a string; the handler's extra field is not in shop.Receipt, so it is gone.
    expect(reply).toEqual({ orderId: 'o-ann-s1', totalCents: '18446744073709551615' });
    // Only protobuf adds every absent field with its default on decode: the server decoded protobuf.
    expect(decoded.at(-1)).toEqual({ customerId: 'ann', items: [{ sku: 'tea', quantity: 2 }], size: 'SIZE_UNSPECIFIED', totalCents: '0', notes: {}, signature: Buffer.alloc(0), placedAt: null });
  });

  test('a msgpack caller can ask for protobuf per call; the server answers each in its own codec', async () => {
    const service = caller('msgpack');
    service.codecs.add(new ProtobufCodec({ protos: SHOP }));
    const client = service.client;
    expect(await client.call('orders', 'place', { customerId: 'bob' })).toEqual({ orderId: 'o-bob-', totalCents: '18446744073709551615', internalNote: 'not in the proto' });
    expect(await client.call('orders', 'place', { customerId: 'bob' }, { codec: 'protobuf' })).toEqual({ orderId: 'o-bob-', totalCents: '18446744073709551615' });
  });

  test("a handler's error comes back over protobuf as an RpcError with its code (its body went as JSON)", async () => {
    const client = caller().client;
    const err = (await client.call('orders', 'place', { customerId: 'taken' }).catch((e) => e)) as RpcError;
    expect(err).toBeInstanceOf(RpcError);
    expect([err.code, err.id, err.detail]).toEqual([409, 'orders.place', 'order already placed']);
  });

  test('a validation failure over protobuf is a 400 naming the field', async () => {
    const client = caller().client;
    const err = (await client.call('orders', 'place', { items: [] }).catch((e) => e)) as RpcError;
    expect(err.code).toBe(400);
    expect(err.issues?.map((i) => i.path)).toEqual(['customerId']);
  });

  test('an endpoint the .proto does not have fails at once with 400 naming it, and is not retried', async () => {
    const calls = decoded.length;
    const client = caller().client;
    const err = (await client.call('orders', 'refund', { orderId: 'x' }, { retries: 3 }).catch((e) => e)) as RpcError;
    expect([err.code, err.id]).toEqual([400, 'phobos.protobuf']);
    expect(err.detail).toMatch(/no rpc for endpoint orders.refund/);
    expect(decoded.length).toBe(calls);
  });

  test('a server without the protobuf codec refuses protobuf requests with a 400 the caller can read', async () => {
    const elsewhere = newNamespace();
    const plain = testService({ name: 'orders', namespace: elsewhere }).handle(new Orders());
    await plain.start();
    expect(plain.codecs.get(CODEC_IDS.protobuf)).toBeUndefined();
    const client = testService({ name: 'caller', namespace: elsewhere, codec: 'protobuf', plugins: { protobuf: { protos: [SHOP] } } }).client;
    const err = (await client.call('orders', 'place', { customerId: 'ann' }).catch((e) => e)) as RpcError;
    expect([err.code, err.detail]).toEqual([400, 'unknown codec id 3']);
  });

  test('events: --codec=protobuf publishes with the topics map, the subscriber decodes them', async () => {
    const service = caller();
    await service.client.publish('order.placed', { orderId: 'o9', size: 'LARGE' });
    await eventually(() => orders.events.length === 1, 3000);
    expect(orders.events[0]).toEqual({ orderId: 'o9', size: 'LARGE' });
  });
});
