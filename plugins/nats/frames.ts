import { encodeFrame, type Frame, FrameError, inflateInPlace } from '../../lib/transport/tcp/frame';
import { FrameReader } from '../../lib/transport/tcp/reader';
import type { Message } from '../../lib/transport/transport';

/**
 * A NATS message body is exactly one tcp frame (lib/transport/tcp/frame.ts, docs/protocol.md): the whole Message
 * (kind, id, codec, service, endpoint, timeout, metadata, error and stream flags, body) in the layout the tcp
 * transport already defines, so nothing Phobos-specific hides in NATS headers and one decoder serves both. Bodies are
 * never gzipped here (NATS connections on loopback or a LAN gain little); a gzipped frame from elsewhere is inflated.
 */

/** Encodes `m` as one frame under `id`; a FrameError (413 too large for `maxPayload`, 400 bad names) when it cannot. */
export function frameBytes(m: Message, id: number, maxPayload: number): Buffer {
  const chunks: Uint8Array[] = [];
  encodeFrame(m, id, { maxFrameSize: maxPayload, compressThreshold: Infinity }, chunks);
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** Decodes one frame that must fill `data` exactly; throws FrameError otherwise. */
export function readFrame(data: Uint8Array, maxPayload: number): Frame {
  const reader = new FrameReader(maxPayload);
  // A copy: the frame's body is a view into these bytes and outlives the callback that got them.
  reader.push(Buffer.from(data));
  const frame = reader.next();
  if (!frame) throw new FrameError(`truncated frame (${data.byteLength} bytes)`);
  if (reader.buffered !== 0) throw new FrameError(`${reader.buffered} bytes after the frame`);
  const refused = inflateInPlace(frame, maxPayload);
  if (refused) throw refused;
  return frame;
}

export { FrameError };
