import { MsgpackCodec } from '../../lib/codec';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { type Message, MessageKind } from '../../lib/transport/transport';
import { frameBytes } from './helpers';

/** The stream frames of docs/protocol.md section 10, byte for byte: encoded by the production encoder, and read back. */

const msgpack = new MsgpackCodec();
const none = { id: 0, service: '', endpoint: '', timeout: 0, metadata: undefined, error: false, body: new Uint8Array(0), codec: 0 };

const examples: [string, Message, number, string][] = [
  ['server stream request', { ...none, kind: MessageKind.request, codec: 2, service: 'greeter', endpoint: 'countdown', timeout: 5000, body: msgpack.encode({ from: 2 }) }, 2,
    '504801000002000000020000138800070009000000000000000967726565746572636f756e74646f776ede0001a466726f6d02'],
  ['stream response', { ...none, kind: MessageKind.response, codec: 2, stream: true }, 2, '5048010108020000000200000000000000000000000000000000'],
  ['data', { ...none, kind: MessageKind.data, codec: 2, body: msgpack.encode({ n: 2 }) }, 2, '5048010500020000000200000000000000000000000000000006de0001a16e02'],
  ['clean end', { ...none, kind: MessageKind.end }, 2, '5048010600000000000200000000000000000000000000000000'],
  ['credit 8', { ...none, kind: MessageKind.credit, timeout: 8 }, 2, '5048010700000000000200000008000000000000000000000000'],
  ['cancel at the deadline', { ...none, kind: MessageKind.cancel, timeout: 408 }, 2, '5048010200000000000200000198000000000000000000000000'],
  ['request stream', { ...none, kind: MessageKind.request, codec: 2, service: 'greeter', endpoint: 'average', timeout: 5000, stream: true }, 3,
    '50480100080200000003000013880007000700000000000000006772656574657261766572616765'],
  ['accepting credit', { ...none, kind: MessageKind.credit, timeout: 16 }, 3, '5048010700000000000300000010000000000000000000000000'],
  ['request message', { ...none, kind: MessageKind.data, codec: 2, body: msgpack.encode({ value: 3 }) }, 3,
    '504801050002000000030000000000000000000000000000000ade0001a576616c756503'],
  ['client stream reply', { ...none, kind: MessageKind.response, codec: 2, body: msgpack.encode({ count: 1, mean: 3 }) }, 3,
    '5048010100020000000300000000000000000000000000000010de0002a5636f756e7401a46d65616e03'],
];

describe('stream frames as documented', () => {
  test.each(examples)('%s', (_name, message, id, hex) => {
    expect(frameBytes(message, id).toString('hex')).toBe(hex);
    const reader = new FrameReader(1 << 20);
    reader.push(Buffer.from(hex, 'hex'));
    const f = reader.next()!;
    expect(f).toMatchObject({ kind: message.kind, id, codec: message.codec, timeout: message.timeout, stream: message.stream === true, error: false });
    expect(Buffer.from(f.body).equals(Buffer.from(message.body))).toBe(true);
    expect(reader.next()).toBeNull();
  });
});
