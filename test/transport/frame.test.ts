import { gzipSync, gunzipSync } from 'node:zlib';
import { MsgpackCodec } from '../../lib/codec';
import { FrameError, HEADER_SIZE, encodeFrame, inflateBody } from '../../lib/transport/tcp/frame';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { MessageKind, responseTo } from '../../lib/transport/transport';
import { frameBytes, header, request } from './helpers';

const codec = new MsgpackCodec();
/** The request and response printed in docs/protocol.md; these bytes are the documented ones. */
const DOC_REQUEST =
  '5048010000020000000100001388000700050000000d0000000c6772656574657268656c6c6f00057472616365000000026162' +
  'de0001a46e616d65a3416e6e';
const DOC_RESPONSE = '5048010100020000000100000000000000000000000000000013de0001a86772656574696e67a6486920416e6e';
const DOC_ERROR =
  '5048010101020000000100000000000000000000000000000041' +
  'de0004a26964ad677265657465722e68656c6c6fa4636f6465cd0194a664657461696cac6e6f20737563682075736572a6737461747573a94e6f7420466f756e64';
const DOC_CANCEL = '5048010200000000000100000000000000000000000000000000';

function decodeAll(bytes: Buffer, max = 1 << 20) {
  const r = new FrameReader(max);
  r.push(bytes);
  const out = [];
  for (let f = r.next(); f; f = r.next()) out.push(f);
  return { frames: out, reader: r };
}

describe('tcp frame encoding', () => {
  it('encodes the documented example request and response byte for byte', () => {
    const req = request({ timeout: 5000, metadata: { trace: 'ab' }, body: codec.encode({ name: 'Ann' }) });
    expect(frameBytes(req, 1).toString('hex')).toBe(DOC_REQUEST);
    expect(frameBytes(responseTo(req, codec.encode({ greeting: 'Hi Ann' }), false), 1).toString('hex')).toBe(DOC_RESPONSE);
    const record = { id: 'greeter.hello', code: 404, detail: 'no such user', status: 'Not Found' };
    expect(frameBytes(responseTo(req, codec.encode(record), true), 1).toString('hex')).toBe(DOC_ERROR);
  });

  it('round-trips multi-byte UTF-8 with byte lengths, not character counts', () => {
    const m = request({
      service: 'grüße-服务',
      endpoint: '😀.hello',
      timeout: 1234,
      metadata: { 'ключ': 'значение 🚀', empty: '' },
      body: Buffer.from([0, 255, 1, 254]),
      error: true,
      codec: 1,
    });
    const bytes = frameBytes(m, 0xfffffffe);
    expect(bytes.readUInt16BE(14)).toBe(Buffer.byteLength('grüße-服务'));
    expect(bytes.readUInt16BE(16)).toBe(Buffer.byteLength('😀.hello'));
    const { frames } = decodeAll(bytes);
    expect(frames).toHaveLength(1);
    const f = frames[0];
    expect(f).toMatchObject({ kind: 0, id: 0xfffffffe, codec: 1, service: m.service, endpoint: m.endpoint, timeout: 1234 });
    expect(f.metadata).toEqual(m.metadata);
    expect(f.error).toBe(true);
    expect(Buffer.from(f.body)).toEqual(Buffer.from([0, 255, 1, 254]));
  });

  it('decodes frames fed one byte at a time and many frames in one chunk', () => {
    const a = frameBytes(request({ body: Buffer.alloc(40_000, 7) }), 1);
    const b = frameBytes(request({ endpoint: 'x' }), 2);
    const r = new FrameReader(1 << 20);
    const seen: number[] = [];
    for (const byte of Buffer.concat([a, b])) {
      r.push(Buffer.from([byte]));
      for (let f = r.next(); f; f = r.next()) seen.push(f.id);
    }
    expect(seen).toEqual([1, 2]);
    expect(r.partial).toBe(false);
    const many = Buffer.concat(Array.from({ length: 50 }, (_, i) => frameBytes(request(), i)));
    expect(decodeAll(many).frames.map((f) => f.id)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('refuses an oversized frame from its header alone', () => {
    const r = new FrameReader(1024);
    r.push(header({ bLen: 0xffffffff }));
    expect(() => r.next()).toThrow(/exceeds the maximum frame size/);
  });

  it('rejects bad magic, version and kind', () => {
    expect(() => decodeAll(header({ magic: 0x1234 }))).toThrow(/bad magic 0x1234/);
    expect(() => decodeAll(header({ version: 9 }))).toThrow(/unsupported version 9/);
    expect(() => decodeAll(header({ kind: 8 }))).toThrow(/unknown frame kind 8/);
  });

  it('rejects metadata whose entries overrun the section', () => {
    const md = Buffer.from([0, 5, 0x61]); // key length 5, one byte present
    expect(() => decodeAll(Buffer.concat([header({ mLen: md.length }), md]))).toThrow(/metadata entry truncated/);
  });

  it('gzips bodies above the threshold only when that makes them smaller', () => {
    const text = Buffer.alloc(10_000, 'abc');
    const out: Uint8Array[] = [];
    encodeFrame(request({ body: text }), 1, { maxFrameSize: 1 << 20, compressThreshold: 1024 }, out);
    const bytes = Buffer.concat(out);
    expect(bytes[4] & 0x02).toBe(2);
    const bLen = bytes.readUInt32BE(22);
    expect(bLen).toBeLessThan(1000);
    expect(gunzipSync(bytes.subarray(bytes.length - bLen))).toEqual(text);

    const random = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(Math.random() * 256)));
    const plain = frameBytes(request({ body: random }), 1, 1024);
    expect(plain[4] & 0x02).toBe(0);
    expect(plain.readUInt32BE(22)).toBe(4096);
  });

  it('refuses to encode a frame over the size limit, with 413', () => {
    const out: Uint8Array[] = [];
    try {
      encodeFrame(request({ body: Buffer.alloc(2000) }), 1, { maxFrameSize: 1000, compressThreshold: Infinity }, out);
      throw new Error('should have thrown');
    } catch (err) {
      expect(err).toBeInstanceOf(FrameError);
      expect((err as FrameError).code).toBe(413);
    }
    expect(out).toHaveLength(0);
  });

  it('stops inflating a gzip bomb at the limit (413) and calls corrupt data 400', () => {
    const bomb = gzipSync(Buffer.alloc(8 << 20));
    expect(bomb.length).toBeLessThan(16_384);
    expect(() => inflateBody(bomb, 4 << 20)).toThrow(expect.objectContaining({ code: 413 }));
    expect(() => inflateBody(Buffer.from('1f8b0800', 'hex'), 1024)).toThrow(expect.objectContaining({ code: 400 }));
  });

  it('encodes the documented cancel frame', () => {
    const cancel = request({ kind: MessageKind.cancel, codec: 0, service: '', endpoint: '', body: Buffer.alloc(0) });
    expect(frameBytes(cancel, 1).toString('hex')).toBe(DOC_CANCEL);
  });

  it('uses the documented header size and kinds', () => {
    expect(HEADER_SIZE).toBe(26);
    expect(MessageKind).toEqual({ request: 0, response: 1, cancel: 2, ping: 3, pong: 4, data: 5, end: 6, credit: 7 });
  });
});
