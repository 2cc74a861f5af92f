import { decodeEvent, encodeEvent } from '../../lib/broker/envelope';
import { RpcError } from '../../lib/errors';

/** The event envelope every engine broker sends (docs/protocol.md, "Event envelope"). */

describe('event envelope', () => {
  test('round-trips codec, metadata and body; the layout is the documented one', () => {
    const bytes = encodeEvent({ topic: 't', codec: 1, metadata: { a: 'b' }, body: Buffer.from([0xc0]) });
    // version 1, codec 1, metadata length 9, {"a":"b"}, body c0
    expect(Buffer.from(bytes).toString('hex')).toBe('0101' + '00000009' + Buffer.from('{"a":"b"}').toString('hex') + 'c0');
    expect(decodeEvent('orders', bytes)).toEqual({ topic: 'orders', codec: 1, metadata: { a: 'b' }, body: Buffer.from([0xc0]) });
  });

  test('empty metadata costs no bytes', () => {
    const bytes = encodeEvent({ topic: 't', codec: 2, metadata: {}, body: Buffer.from('{}') });
    expect(Buffer.from(bytes).toString('hex')).toBe('0102000000007b7d');
    expect(decodeEvent('t', bytes).metadata).toEqual({});
  });

  test.each([
    ['too short', Buffer.from([1, 1, 0]), /shorter than its header/],
    ['another version', Buffer.from([2, 1, 0, 0, 0, 0]), /version 2/],
    ['metadata past the end', Buffer.from([1, 1, 0, 0, 0, 9, 0x7b]), /runs past the envelope/],
    ['metadata not JSON', Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 2]), Buffer.from('{x')]), /not JSON/],
    ['metadata an array', Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 2]), Buffer.from('[]')]), /not an object/],
  ])('a malformed envelope (%s) is a 400 naming the problem', (_what, bytes, message) => {
    let err: unknown;
    try {
      decodeEvent('t', bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: 400, id: 'phobos.broker' });
    expect((err as Error).message).toMatch(message);
  });

  test('metadata keeps strings only and never lets __proto__ through', () => {
    const meta = Buffer.from('{"__proto__":{"polluted":"yes"},"n":1,"ok":"v"}');
    const head = Buffer.from([1, 3, 0, 0, 0, 0]);
    head.writeUInt32BE(meta.length, 2);
    const event = decodeEvent('t', Buffer.concat([head, meta]));
    expect(event.metadata).toEqual({ ok: 'v' });
    expect(Object.getPrototypeOf(event.metadata)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
