import type { Codec } from './codec';
import { CODEC_IDS } from './codec';

/** JSON codec: UTF-8 JSON text. `undefined` encodes as zero bytes and decodes back to `undefined`. */
export class JsonCodec implements Codec {
  readonly name = 'json';
  readonly id = CODEC_IDS.json;
  readonly contentType = 'application/json';

  encode(value: unknown): Uint8Array {
    if (value === undefined) return EMPTY;
    return Buffer.from(JSON.stringify(value), 'utf8');
  }

  decode(bytes: Uint8Array): unknown {
    if (bytes.length === 0) return undefined;
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return JSON.parse(buf.toString('utf8'));
  }
}

const EMPTY = new Uint8Array(0);
