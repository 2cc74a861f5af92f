import { RpcError } from '../errors';
import type { Event } from './broker';

/**
 * How engine brokers carry an Event as one message body: engines differ in what headers they have (NATS headers,
 * AMQP properties, MQTT 5 user properties, Redis stream fields), so every engine broker sends the same small envelope
 * and moves the already-encoded body untouched. Layout (docs/protocol.md, "Event envelope"):
 *
 *   byte 0      version, 1
 *   byte 1      codec id of the body
 *   bytes 2..5  metadata length M, uint32 big-endian
 *   M bytes     metadata as a JSON object of strings, UTF-8 ({} may be sent as M = 0)
 *   the rest    the body
 *
 * The topic is not in the envelope: every engine already names it.
 */

export const ENVELOPE_VERSION = 1;
export const ENVELOPE_ERROR_ID = 'phobos.broker';
const HEADER = 6;

export function encodeEvent(event: Event): Buffer {
  const hasMeta = event.metadata && Object.keys(event.metadata).length > 0;
  const meta = hasMeta ? Buffer.from(JSON.stringify(event.metadata), 'utf8') : undefined;
  const metaLen = meta?.length ?? 0;
  const out = Buffer.allocUnsafe(HEADER + metaLen + event.body.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = event.codec;
  out.writeUInt32BE(metaLen, 2);
  if (meta) meta.copy(out, HEADER);
  out.set(event.body, HEADER + metaLen);
  return out;
}

/** Decodes an envelope; a malformed one raises a 400 RpcError naming what is wrong (the caller drops that message). */
export function decodeEvent(topic: string, bytes: Uint8Array): Event {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER) throw new RpcError(ENVELOPE_ERROR_ID, 400, `event envelope of ${buf.length} bytes is shorter than its header`);
  if (buf[0] !== ENVELOPE_VERSION) throw new RpcError(ENVELOPE_ERROR_ID, 400, `event envelope version ${buf[0]} is not ${ENVELOPE_VERSION}`);
  const metaLen = buf.readUInt32BE(2);
  if (HEADER + metaLen > buf.length) throw new RpcError(ENVELOPE_ERROR_ID, 400, `event metadata length ${metaLen} runs past the envelope`);
  const metadata: Record<string, string> = {};
  if (metaLen > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(buf.toString('utf8', HEADER, HEADER + metaLen));
    } catch {
      throw new RpcError(ENVELOPE_ERROR_ID, 400, 'event metadata is not JSON');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new RpcError(ENVELOPE_ERROR_ID, 400, 'event metadata is not an object');
    // String values only, and never a `__proto__` key: assigning it would change the object's prototype.
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string' && k !== '__proto__') metadata[k] = v;
  }
  return { topic, codec: buf[1], metadata, body: buf.subarray(HEADER + metaLen) };
}
