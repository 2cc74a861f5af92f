import { CodecTable, JsonCodec, MsgpackCodec } from '../../lib';

describe('codecs', () => {
  const value = { name: 'Ünïcødé ✓', n: 42, f: 1.5, list: [1, 'two', null, true], nested: { deep: { x: -1 } } };

  test.each([new MsgpackCodec(), new JsonCodec()])('$name round-trips values exactly', (codec) => {
    expect(codec.decode(codec.encode(value))).toEqual(value);
    expect(codec.decode(codec.encode(undefined))).toBeUndefined();
    expect(codec.encode(undefined)).toHaveLength(0);
  });

  test('msgpack decodes maps as plain objects, not Map, and is smaller than JSON', () => {
    const m = new MsgpackCodec();
    const decoded = m.decode(m.encode(value)) as object;
    expect(decoded).not.toBeInstanceOf(Map);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(m.encode(value).length).toBeLessThan(new JsonCodec().encode(value).length);
  });

  test('the table finds codecs by wire id, name and content type', () => {
    const t = new CodecTable();
    expect(t.get(2)?.name).toBe('msgpack');
    expect(t.get(1)?.name).toBe('json');
    expect(t.get(9)).toBeUndefined();
    expect(t.named('json')?.id).toBe(1);
    expect(t.byContentType('application/msgpack')?.name).toBe('msgpack');
  });

  test('malformed input throws instead of returning garbage', () => {
    expect(() => new JsonCodec().decode(Buffer.from('{oops'))).toThrow();
    expect(() => new MsgpackCodec().decode(Buffer.from([0x92, 0x01]))).toThrow();
  });
});
