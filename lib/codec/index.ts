import type { Codec } from './codec';
import { JsonCodec } from './json';
import { MsgpackCodec } from './msgpack';

export type { Codec, MessageRole } from './codec';
export { CODEC_IDS } from './codec';
export { JsonCodec } from './json';
export { MsgpackCodec } from './msgpack';

/**
 * The codecs a process understands, indexed by wire id and by name. Servers decode each request with the codec its
 * frame names; plugins (protobuf) add themselves with `add`.
 */
export class CodecTable {
  private readonly byId: (Codec | undefined)[] = [];
  private readonly byName = new Map<string, Codec>();

  constructor(codecs: Codec[] = [new MsgpackCodec(), new JsonCodec()]) {
    for (const c of codecs) this.add(c);
  }

  add(codec: Codec): void {
    this.byId[codec.id] = codec;
    this.byName.set(codec.name, codec);
  }

  get(id: number): Codec | undefined {
    return this.byId[id];
  }

  named(name: string): Codec | undefined {
    return this.byName.get(name);
  }

  byContentType(contentType: string): Codec | undefined {
    for (const c of this.byName.values()) if (c.contentType === contentType) return c;
    return undefined;
  }
}
