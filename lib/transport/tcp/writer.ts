import type { Socket } from 'node:net';
import type { Message } from '../transport';
import { type EncodeLimits, encodeFrame } from './frame';

/** Batches up to this size are joined into one buffer (one plain write); larger ones go out corked (one writev). */
const JOIN_MAX = 64 * 1024;
/** Bytes queued here (not yet handed to the socket) past which the owner should stop producing. */
const QUEUE_HIGH_WATER = 1024 * 1024;

/**
 * Frame writer for one connection. Frames written in the same tick are queued and handed to the socket together on
 * the next tick, so a burst of requests or replies costs one syscall rather than one each. When the socket reports
 * back-pressure (write returned false) the queue is held until 'drain'; `congested` tells the owner to stop producing.
 */
export class FrameWriter {
  /** True from a write that returned false until the socket drains. */
  blocked = false;
  private chunks: Uint8Array[] = [];
  private size = 0;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly limits: EncodeLimits,
    /** Called after 'drain' once the queue has been handed over, so the owner can resume. */
    private readonly onDrain: () => void,
  ) {
    socket.on('drain', this.drained);
  }

  /** True when the owner should stop creating work for this connection. */
  get congested(): boolean {
    return this.blocked || this.size > QUEUE_HIGH_WATER;
  }

  /** Bytes waiting here plus bytes the socket still buffers. */
  get queuedBytes(): number {
    return this.size + this.socket.writableLength;
  }

  /** Queues `m` as request `id`. Throws FrameError (nothing queued) when it cannot be encoded within the limits. */
  write(m: Message, id: number): void {
    if (this.closed) return;
    this.size += encodeFrame(m, id, this.limits, this.chunks);
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true;
      process.nextTick(flushTick, this);
    }
  }

  /** Hands what is queued to the socket; held while back-pressured unless `force` (the connection is ending). */
  flush(force = false): void {
    this.scheduled = false;
    if ((this.blocked && !force) || this.closed || this.chunks.length === 0) return;
    const chunks = this.chunks;
    const size = this.size;
    this.chunks = [];
    this.size = 0;
    let ok: boolean;
    if (chunks.length === 1) {
      ok = this.socket.write(chunks[0]);
    } else if (size <= JOIN_MAX) {
      ok = this.socket.write(Buffer.concat(chunks, size));
    } else {
      this.socket.cork();
      ok = true;
      for (const c of chunks) ok = this.socket.write(c);
      this.socket.uncork();
    }
    if (!ok) this.blocked = true;
  }

  /** Drops whatever is queued; later writes are ignored. */
  close(): void {
    this.closed = true;
    this.chunks = [];
    this.size = 0;
    this.socket.off('drain', this.drained);
  }

  private readonly drained = (): void => {
    if (!this.blocked) return;
    this.blocked = false;
    this.flush();
    if (!this.blocked) this.onDrain();
  };
}

function flushTick(w: FrameWriter): void {
  w.flush();
}
