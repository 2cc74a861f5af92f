import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { ConfigError } from '../../../lib/flags';
import { pluginFactory } from '../../../lib/plugins';
import { resolveConfig } from '../../../lib/flags';
import { silentLogger } from '../../../lib/observe/logger';
import { RpcError } from '../../../lib/errors';
import { codecPlugin, ProtobufCodec } from '../../../plugins/protobuf';

/** The protobuf codec on its own: bytes, conversions, the naming rule, and the errors for what the .proto lacks. */

const SHOP = join(__dirname, 'shop.proto');
const GREETER = join(__dirname, '..', '..', '..', 'examples', 'grpc', 'greeter.proto');

const order = {
  customerId: 'c-42',
  items: [
    { sku: 'tea', quantity: 2 },
    { sku: 'cup', quantity: 1 },
  ],
  size: 'LARGE',
  totalCents: '9007199254740993',
  notes: { gift: 'yes' },
  signature: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
  placedAt: { seconds: '1700000000', nanos: 5 },
};

function thrown(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected an RpcError');
}

describe('protobuf codec', () => {
  const codec = new ProtobufCodec({ protos: [SHOP], topics: { 'order.placed': 'shop.OrderPlaced' } });

  test('is typed, id 3, application/protobuf', () => {
    expect([codec.name, codec.id, codec.contentType, codec.typed]).toEqual(['protobuf', 3, 'application/protobuf', true]);
  });

  test('encodes to the same bytes as protobufjs on its own, and to the bytes the proto3 spec gives', () => {
    const own = protobuf.loadSync(SHOP).lookupType('shop.Order');
    const bytes = codec.encode(order, 'orders', 'place', 'request');
    expect(Buffer.from(bytes).equals(Buffer.from(own.encode(own.fromObject(order)).finish()))).toBe(true);
    // Receipt{order_id: "A"}: field 1, wire type 2 (0x0a), length 1, "A".
    expect([...codec.encode({ orderId: 'A' }, 'orders', 'place', 'response')]).toEqual([0x0a, 0x01, 0x41]);
  });

  test('round trips: every field present, enums by name, 64-bit integers as exact decimal strings', () => {
    const back = codec.decode(codec.encode(order, 'orders', 'place', 'request'), 'orders', 'place', 'request');
    expect(back).toEqual({ ...order, placedAt: { seconds: '1700000000', nanos: 5 } });
    expect(codec.decode(new Uint8Array(0), 'orders', 'place', 'request')).toEqual({
      customerId: '',
      items: [],
      size: 'SIZE_UNSPECIFIED',
      totalCents: '0',
      notes: {},
      signature: Buffer.alloc(0),
      placedAt: null,
    });
  });

  test("longs: 'number' and enums: 'number' decode as numbers", () => {
    const numeric = new ProtobufCodec({ protos: SHOP, longs: 'number', enums: 'number' });
    const back = numeric.decode(numeric.encode({ size: 'SMALL', totalCents: 1234 }, 'orders', 'place'), 'orders', 'place') as Record<string, unknown>;
    expect(back.size).toBe(1);
    expect(back.totalCents).toBe(1234);
  });

  test('endpoints match rpcs case-insensitively; the default service name is the proto name lowercased', () => {
    const a = codec.encode({ orderId: 'x' }, 'orders', 'Cancel', 'request');
    const b = codec.encode({ orderId: 'x' }, 'orders', 'cancel', 'request');
    const c = codec.encode({ orderId: 'x' }, 'orders', 'CANCEL', 'request');
    expect(Buffer.from(a).equals(Buffer.from(b)) && Buffer.from(b).equals(Buffer.from(c))).toBe(true);
    expect(codec.rpc('orders', 'place')?.path).toBe('/shop.Orders/Place');
  });

  test('an explicit services map names the Phobos service', () => {
    const mapped = new ProtobufCodec({ protos: GREETER, services: { 'grpc-greeter': 'helloworld.Greeter' } });
    expect(mapped.rpc('grpc-greeter', 'sayHello')?.path).toBe('/helloworld.Greeter/SayHello');
    expect(mapped.rpc('greeter', 'sayHello')).toBeUndefined();
  });

  test('events use the topics map', () => {
    const bytes = codec.encode({ orderId: 'o1', size: 'SMALL' }, '', 'order.placed', 'event');
    expect(codec.decode(bytes, '', 'order.placed', 'event')).toEqual({ orderId: 'o1', size: 'SMALL' });
  });

  test('an unknown service, endpoint or topic is an RpcError naming it: 400 for what callers send, 500 for replies', () => {
    const svc = thrown(() => codec.encode({}, 'billing', 'pay', 'request'));
    expect([svc.code, svc.detail]).toEqual([400, expect.stringContaining('no proto service for the Phobos service "billing"')]);
    const ep = thrown(() => codec.encode({}, 'orders', 'refund', 'response'));
    expect([ep.code, ep.detail]).toEqual([500, expect.stringContaining('no rpc for endpoint orders.refund')]);
    const topic = thrown(() => codec.encode({}, '', 'order.shipped', 'event'));
    expect([topic.code, topic.detail]).toEqual([400, expect.stringContaining('no message type for topic "order.shipped"')]);
    expect(thrown(() => codec.decode(new Uint8Array(0), 'orders', 'refund', 'request')).code).toBe(400);
  });

  test('a value that is not an object is refused, naming the message type', () => {
    const err = thrown(() => codec.encode('hello', 'orders', 'place', 'request'));
    expect(err.code).toBe(400);
    expect(err.detail).toBe('shop.Order must be encoded from an object, got string');
    expect(thrown(() => codec.encode([1], 'orders', 'place', 'response')).detail).toMatch(/got an array/);
  });

  test('malformed bytes fail to decode', () => {
    expect(() => codec.decode(Uint8Array.from([0x0a, 0x09, 0x41]), 'orders', 'place', 'request')).toThrow(/index out of range/);
  });

  test('a .proto that names no such file, or two services that would share a name, fail at construction', () => {
    expect(() => new ProtobufCodec({ protos: 'nope/missing.proto' })).toThrow(/cannot find nope\/missing.proto/);
    const clash = protobuf.Root.fromJSON({
      nested: {
        a: { nested: { Orders: { methods: { M: { requestType: '.a.E', responseType: '.a.E' } } }, E: { fields: {} } } },
        b: { nested: { ORDERS: { methods: { M: { requestType: '.a.E', responseType: '.a.E' } } } } },
      },
    });
    expect(() => new ProtobufCodec({ protos: clash })).toThrow('b.ORDERS and a.Orders would both be the Phobos service "orders"');
    expect(() => new ProtobufCodec({ protos: clash, services: { x: 'a.Nope' } })).toThrow(/maps "x" to a.Nope, which is not in the .proto/);
    expect(new ProtobufCodec({ protos: clash, services: { other: 'b.ORDERS' } }).rpc('other', 'm')?.path).toBe('/b.ORDERS/M');
  });

  test('imports resolve from includeDirs', () => {
    const viaInclude = new ProtobufCodec({ protos: 'shop.proto', includeDirs: [__dirname] });
    expect(viaInclude.rpc('orders', 'place')?.request.fullName).toBe('.shop.Order');
  });
});

describe('protobuf codec plugin (--codec=protobuf)', () => {
  const config = resolveConfig({}, [], {});

  test('is in the catalog, built from the plugin options', () => {
    const factory = pluginFactory('codec', 'protobuf');
    const codec = factory({ config, logger: silentLogger, options: { protos: [SHOP] } });
    expect(codec).toBeInstanceOf(ProtobufCodec);
    expect((codec as ProtobufCodec).rpc('orders', 'place')).toBeDefined();
  });

  test('PHOBOS_PROTO_PATH (comma-separated) wins over the options in code', () => {
    const codec = codecPlugin({ options: { protos: [SHOP] } }, { PHOBOS_PROTO_PATH: ` ${GREETER} , ` });
    expect(codec.serviceNames()).toEqual(['greeter']);
  });

  test('no .proto anywhere, or a broken one, is a one-line ConfigError saying what to set', () => {
    expect(() => codecPlugin({ options: {} }, {})).toThrow(ConfigError);
    expect(() => codecPlugin({ options: {} }, {})).toThrow(/PHOBOS_PROTO_PATH/);
    expect(() => codecPlugin({ options: { protos: ['missing.proto'] } }, {})).toThrow(/codec "protobuf": cannot find missing.proto/);
  });
});
