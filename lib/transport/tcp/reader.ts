import type { MessageKind } from '../transport';
import { FLAG_ERROR, FLAG_GZIP, FLAG_STREAM, type Frame, FrameError, HEADER_SIZE, MAGIC0, MAGIC1, MAX_KIND, VERSION, readMetadata } from './frame';

const EMPTY = Buffer.alloc(0);

/**
 * Turns a byte stream into frames. Chunks are kept as they arrive and read through an offset: a frame that lies inside
 * one chunk is sliced out without copying, and only a frame spanning chunks is copied, once, into a buffer of its own
 * size. The declared size is checked as soon as the header is complete, so an oversized frame is refused before a
 * byte of its body is buffered.
 */
export class FrameReader {
  /** Bytes received and not yet consumed. */
  buffered = 0;
  private chunks: Buffer[] = [];
  /** Read offset into chunks[0]. */
  private off = 0;
  private readonly scratch = Buffer.allocUnsafe(HEADER_SIZE);

  // The header of the frame being received (valid while `haveHeader`), kept in fields to avoid an object per frame.
  private haveHeader = false;
  private kind = 0;
  private flags = 0;
  private codec = 0;
  private id = 0;
  private timeout = 0;
  private sLen = 0;
  private eLen = 0;
  private mLen = 0;
  private bLen = 0;

  // Where the last `region()` call found its bytes.
  private rBuf: Buffer = EMPTY;
  private rOff = 0;

  // A connection names the same few services and endpoints over and over; the last one decoded is reused.
  private readonly services = new LastName();
  private readonly endpoints = new LastName();

  constructor(private readonly maxFrameSize: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** True while part of a frame has been received but not all of it. */
  get partial(): boolean {
    return this.haveHeader || this.buffered > 0;
  }

  /** The next complete frame, or null when more bytes are needed. Throws FrameError (code 0) on a broken stream. */
  next(): Frame | null {
    if (!this.haveHeader) {
      if (this.buffered < HEADER_SIZE) return null;
      this.readHeader();
    }
    const payload = this.sLen + this.eLen + this.mLen + this.bLen;
    if (this.buffered < payload) return null;
    this.haveHeader = false;
    this.region(payload);
    const b = this.rBuf;
    let o = this.rOff;
    const service = this.sLen === 0 ? '' : this.services.decode(b, o, this.sLen);
    o += this.sLen;
    const endpoint = this.eLen === 0 ? '' : this.endpoints.decode(b, o, this.eLen);
    o += this.eLen;
    const metadata = this.mLen === 0 ? undefined : readMetadata(b, o, o + this.mLen);
    o += this.mLen;
    return {
      kind: this.kind as MessageKind,
      id: this.id,
      codec: this.codec,
      service,
      endpoint,
      timeout: this.timeout,
      metadata,
      error: (this.flags & FLAG_ERROR) !== 0,
      body: this.bLen === 0 ? EMPTY : b.subarray(o, o + this.bLen),
      gzip: (this.flags & FLAG_GZIP) !== 0,
      stream: (this.flags & FLAG_STREAM) !== 0,
    };
  }

  private readHeader(): void {
    let b: Buffer;
    let o: number;
    const first = this.chunks[0];
    if (first.length - this.off >= HEADER_SIZE) {
      b = first;
      o = this.off;
      this.consume(HEADER_SIZE);
    } else {
      b = this.scratch;
      o = 0;
      this.copyOut(b, HEADER_SIZE);
    }
    if (b[o] !== MAGIC0 || b[o + 1] !== MAGIC1) {
      throw new FrameError(`bad magic 0x${b.toString('hex', o, o + 2)}`);
    }
    if (b[o + 2] !== VERSION) throw new FrameError(`unsupported version ${b[o + 2]}`);
    if (b[o + 3] > MAX_KIND) throw new FrameError(`unknown frame kind ${b[o + 3]}`);
    this.kind = b[o + 3];
    this.flags = b[o + 4];
    this.codec = b[o + 5];
    // Plain byte loads: the checked readUInt*BE helpers dominate header parsing otherwise.
    this.id = get32(b, o + 6);
    this.timeout = get32(b, o + 10);
    this.sLen = (b[o + 14] << 8) | b[o + 15];
    this.eLen = (b[o + 16] << 8) | b[o + 17];
    this.mLen = get32(b, o + 18);
    this.bLen = get32(b, o + 22);
    // Summed as doubles: four u32-ish lengths cannot overflow, and the check runs before anything is buffered.
    const size = HEADER_SIZE + this.sLen + this.eLen + this.mLen + this.bLen;
    if (size > this.maxFrameSize) {
      throw new FrameError(`frame of ${size} bytes exceeds the maximum frame size of ${this.maxFrameSize}`);
    }
    this.haveHeader = true;
  }

  /** Makes `n` buffered bytes addressable as rBuf[rOff, rOff + n) and consumes them. */
  private region(n: number): void {
    if (n === 0) {
      this.rBuf = EMPTY;
      this.rOff = 0;
      return;
    }
    const first = this.chunks[0];
    if (first.length - this.off >= n) {
      this.rBuf = first;
      this.rOff = this.off;
      this.consume(n);
    } else {
      const buf = Buffer.allocUnsafe(n);
      this.copyOut(buf, n);
      this.rBuf = buf;
      this.rOff = 0;
    }
  }

  /** Advances past `n` bytes that lie inside chunks[0]. */
  private consume(n: number): void {
    this.off += n;
    this.buffered -= n;
    if (this.off === this.chunks[0].length) {
      this.chunks.shift();
      this.off = 0;
    }
  }

  /** Copies the next `n` bytes (spanning chunks) into `dst` and consumes them. */
  private copyOut(dst: Buffer, n: number): void {
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const take = Math.min(c.length - this.off, n - filled);
      c.copy(dst, filled, this.off, this.off + take);
      filled += take;
      this.off += take;
      if (this.off === c.length) {
        this.chunks.shift();
        this.off = 0;
      }
    }
    this.buffered -= n;
  }
}

function get32(b: Buffer, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Remembers the last short name decoded, so a repeat costs a byte comparison instead of a string decode. */
class LastName {
  private bytes: Buffer = EMPTY;
  private text = '';

  decode(b: Buffer, o: number, len: number): string {
    const last = this.bytes;
    if (len === last.length) {
      let i = 0;
      while (i < len && b[o + i] === last[i]) i++;
      if (i === len) return this.text;
    }
    const text = b.toString('utf8', o, o + len);
    if (len <= 128) {
      this.bytes = Buffer.from(b.subarray(o, o + len));
      this.text = text;
    }
    return text;
  }
}
