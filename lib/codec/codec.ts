/**
 * A Codec turns values into bytes and back. Each codec has a one-byte wire id, so a server decodes every request with
 * the codec the caller chose and replies in kind: one server serves every codec.
 */
export interface Codec {
  readonly name: string;
  /** Wire id carried in every frame header (see docs/protocol.md). */
  readonly id: number;
  readonly contentType: string;
  /**
   * True for codecs whose bytes do not describe themselves (protobuf): they need `service`, `endpoint` and `role` to
   * pick a message type, and error bodies for their callers go as JSON instead (an error has no message type).
   */
  readonly typed?: boolean;
  /** `service`/`endpoint`/`role` say which message this is; self-describing codecs ignore them. Events: service ''. */
  encode(value: unknown, service?: string, endpoint?: string, role?: MessageRole): Uint8Array;
  decode(bytes: Uint8Array, service?: string, endpoint?: string, role?: MessageRole): unknown;
}

/** Which message of an endpoint a body is: what the caller sent, what the handler answered, or a published event. */
export type MessageRole = 'request' | 'response' | 'event';

export const CODEC_IDS = { json: 1, msgpack: 2, protobuf: 3, jsonrpc: 4 } as const;
