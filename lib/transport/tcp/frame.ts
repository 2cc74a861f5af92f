import { gunzipSync, gzipSync, constants as zlibConstants } from 'node:zlib';
import { type Message, MessageKind, type Metadata } from '../transport';

/**
 * The tcp wire format (docs/protocol.md is the normative description; keep the two in step).
 *
 *   off size field
 *    0   2   magic 0x50 0x48 ("PH")
 *    2   1   version (1)
 *    3   1   kind (MessageKind)
 *    4   1   flags (FLAG_*)
 *    5   1   codec id
 *    6   4   request id
 *   10   4   timeout ms
 *   14   2   service length      \
 *   16   2   endpoint length      | byte lengths of the sections that follow, in this order
 *   18   4   metadata length      |
 *   22   4   body length         /
 *   26       service, endpoint, metadata, body
 *
 * All integers are unsigned big-endian. Metadata is a run of entries: u16 key length, key, u32 value length, value.
 */
export const MAGIC0 = 0x50;
export const MAGIC1 = 0x48;
export const VERSION = 1;
export const HEADER_SIZE = 26;
/** Highest kind value understood by this version (7: credit). */
export const MAX_KIND = 7;

export const FLAG_ERROR = 0x01;
export const FLAG_GZIP = 0x02;
/** Reserved for one-way requests (no response expected); not sent by this version. */
export const FLAG_ONEWAY = 0x04;
/** On a request: its messages follow as a stream. On a response: the reply is a stream (docs/protocol.md). */
export const FLAG_STREAM = 0x08;

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
/** Bodies up to this size are copied into the header buffer: one allocation and one chunk instead of two. */
const INLINE_BODY_MAX = 16 * 1024;

/** A decoded frame; `gzip` stays true until the connection inflates the body (it may refuse to). */
export interface Frame extends Message {
  gzip: boolean;
}

/**
 * A frame problem. `code` 0 means the byte stream itself is broken and the connection must close; otherwise only this
 * frame is refused and the connection keeps going (the code is the RpcError code to report).
 */
export class FrameError extends Error {
  constructor(
    readonly reason: string,
    readonly code = 0,
  ) {
    super(reason);
    this.name = 'FrameError';
  }
}

export interface EncodeLimits {
  maxFrameSize: number;
  compressThreshold: number;
}

/**
 * Encodes `m` under request id `id` and appends its chunks to `out` (one chunk, or two when the body is large enough
 * that copying it would cost more than a second chunk). Returns the frame size. Throws FrameError (code 413/400)
 * without touching `out` when the frame cannot be sent.
 */
export function encodeFrame(m: Message, id: number, limits: EncodeLimits, out: Uint8Array[]): number {
  let body = m.body;
  let flags = m.error ? FLAG_ERROR : 0;
  if (m.stream === true) flags |= FLAG_STREAM;
  if (body.length > limits.compressThreshold) {
    const packed = gzipSync(body, { level: zlibConstants.Z_BEST_SPEED });
    // Only worth it when it actually saves bytes (already-compressed or random bodies grow).
    if (packed.length < body.length) {
      body = packed;
      flags |= FLAG_GZIP;
    }
  }
  // Service and endpoint names repeat on every call: their UTF-8 bytes come from a small cache.
  const sBytes = m.service.length === 0 ? EMPTY_NAME : nameBytes(m.service);
  const eBytes = m.endpoint.length === 0 ? EMPTY_NAME : nameBytes(m.endpoint);
  const sLen = sBytes.length;
  const eLen = eBytes.length;
  if (sLen > U16_MAX || eLen > U16_MAX) throw new FrameError('service or endpoint name longer than 65535 bytes', 400);
  const mLen = m.metadata === undefined ? 0 : metadataSize(m.metadata);
  const bLen = body.length;
  const size = HEADER_SIZE + sLen + eLen + mLen + bLen;
  if (size > limits.maxFrameSize) {
    throw new FrameError(`frame of ${size} bytes exceeds the maximum frame size of ${limits.maxFrameSize}`, 413);
  }
  const inline = bLen <= INLINE_BODY_MAX;
  const buf = Buffer.allocUnsafe(inline ? size : size - bLen);
  buf[0] = MAGIC0;
  buf[1] = MAGIC1;
  buf[2] = VERSION;
  buf[3] = m.kind;
  buf[4] = flags;
  buf[5] = m.codec;
  // Plain byte stores: the checked writeUInt*BE helpers cost more than the rest of the header together.
  put32(buf, 6, id >>> 0);
  put32(buf, 10, clampU32(m.timeout));
  buf[14] = sLen >>> 8;
  buf[15] = sLen & 0xff;
  buf[16] = eLen >>> 8;
  buf[17] = eLen & 0xff;
  put32(buf, 18, mLen);
  put32(buf, 22, bLen);
  let o = HEADER_SIZE;
  if (sLen !== 0) {
    buf.set(sBytes, o);
    o += sLen;
  }
  if (eLen !== 0) {
    buf.set(eBytes, o);
    o += eLen;
  }
  if (mLen !== 0) o = writeMetadata(buf, o, m.metadata as Metadata);
  if (inline) {
    if (bLen !== 0) buf.set(body, o);
    out.push(buf);
  } else {
    out.push(buf, body);
  }
  return size;
}

function put32(buf: Buffer, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = (v >>> 16) & 0xff;
  buf[o + 2] = (v >>> 8) & 0xff;
  buf[o + 3] = v & 0xff;
}

const EMPTY_NAME = Buffer.alloc(0);
const NAME_CACHE_MAX = 512;
const names = new Map<string, Buffer>();

/** UTF-8 bytes of a service or endpoint name, cached; the cache starts over when full rather than tracking use. */
function nameBytes(name: string): Buffer {
  let bytes = names.get(name);
  if (bytes === undefined) {
    bytes = Buffer.from(name, 'utf8');
    if (names.size >= NAME_CACHE_MAX) names.clear();
    names.set(name, bytes);
  }
  return bytes;
}

function clampU32(n: number): number {
  if (!(n > 0)) return 0;
  return n >= U32_MAX ? U32_MAX : Math.ceil(n);
}

function metadataSize(md: Metadata): number {
  let size = 0;
  for (const key in md) {
    const kLen = Buffer.byteLength(key, 'utf8');
    if (kLen > U16_MAX) throw new FrameError('metadata key longer than 65535 bytes', 400);
    size += 6 + kLen + Buffer.byteLength(String(md[key]), 'utf8');
  }
  return size;
}

function writeMetadata(buf: Buffer, o: number, md: Metadata): number {
  for (const key in md) {
    const kLen = buf.write(key, o + 2, 'utf8');
    buf.writeUInt16BE(kLen, o);
    o += 2 + kLen;
    const vLen = buf.write(String(md[key]), o + 4, 'utf8');
    buf.writeUInt32BE(vLen, o);
    o += 4 + vLen;
  }
  return o;
}

/** Parses a metadata section; entries must tile it exactly. */
export function readMetadata(buf: Buffer, start: number, end: number): Metadata {
  const md: Metadata = {};
  let o = start;
  while (o < end) {
    if (o + 2 > end) throw new FrameError('metadata entry truncated');
    const kLen = buf.readUInt16BE(o);
    o += 2;
    if (o + kLen + 4 > end) throw new FrameError('metadata entry truncated');
    const key = buf.toString('utf8', o, o + kLen);
    o += kLen;
    const vLen = buf.readUInt32BE(o);
    o += 4;
    if (o + vLen > end) throw new FrameError('metadata entry truncated');
    // A "__proto__" key would replace the object's prototype instead of adding an entry; drop it.
    if (key !== '__proto__') md[key] = buf.toString('utf8', o, o + vLen);
    o += vLen;
  }
  return md;
}

/** Inflates a gzip body, refusing (413) anything that would grow past `max` bytes: a gzip bomb never materialises. */
export function inflateBody(body: Uint8Array, max: number): Buffer {
  try {
    return gunzipSync(body, { maxOutputLength: max });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new FrameError(`gzip body inflates past the maximum of ${max} bytes`, 413);
    }
    throw new FrameError(`corrupt gzip body: ${(err as Error).message}`, 400);
  }
}

/**
 * Inflates a gzipped frame's body in place. Returns the FrameError (413 or 400) when the body is refused, so the
 * caller answers that one request and keeps the connection.
 */
export function inflateInPlace(f: Frame, max: number): FrameError | undefined {
  if (!f.gzip) return undefined;
  try {
    f.body = inflateBody(f.body, max);
    f.gzip = false;
    return undefined;
  } catch (err) {
    return err as FrameError;
  }
}

/** The pong answering ping `f`: same id, same body (inflated if it came gzipped). Throws FrameError on a bad body. */
export function pongFor(f: Frame, maxBody: number): Message {
  return {
    kind: MessageKind.pong,
    id: f.id,
    codec: f.codec,
    service: '',
    endpoint: '',
    timeout: 0,
    metadata: undefined,
    error: false,
    body: f.gzip ? inflateBody(f.body, maxBody) : f.body,
  };
}
