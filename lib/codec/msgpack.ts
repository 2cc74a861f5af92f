import { Packr } from 'msgpackr';
import type { Codec } from './codec';
import { CODEC_IDS } from './codec';

/**
 * MessagePack through msgpackr, the default codec. Maps decode as plain objects (not Map) so handlers see the same
 * shapes JSON would give them; records/structures are off so every message is self-describing on the wire.
 */
export class MsgpackCodec implements Codec {
  readonly name = 'msgpack';
  readonly id = CODEC_IDS.msgpack;
  readonly contentType = 'application/msgpack';
  private readonly packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

  encode(value: unknown): Uint8Array {
    if (value === undefined) return EMPTY;
    return this.packr.pack(value);
  }

  decode(bytes: Uint8Array): unknown {
    if (bytes.length === 0) return undefined;
    return this.packr.unpack(bytes);
  }
}

const EMPTY = new Uint8Array(0);
