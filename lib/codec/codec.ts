/**
 * A Codec turns values into bytes and back. Each codec has a one-byte wire id, so a server decodes every request with
 * the codec the caller chose and replies in kind: one server serves every codec.
 */
export interface Codec {
  readonly name: string;
  /** Wire id carried in every frame header (see docs/protocol.md). */
  readonly id: number;
  readonly contentType: string;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

export const CODEC_IDS = { json: 1, msgpack: 2, protobuf: 3, jsonrpc: 4 } as const;
