import type { Writable } from 'node:stream';
import { type Message, MessageKind } from '../transport';
import { type EncodeLimits, encodeFrame } from './frame';

/** Batches up to this size are joined into one buffer (one plain write); larger ones go out corked (one writev). */
const JOIN_MAX = 64 * 1024;
/** Bytes queued here (not yet handed to the sink) past which the owner should stop producing. */
const QUEUE_HIGH_WATER = 1024 * 1024;
const EMPTY = new Uint8Array(0);

/**
 * Where a FrameWriter's batches go: a tcp socket (writableSink below), or a gRPC call whose messages carry frames
 * (plugins/grpc/wire.ts). Only how a batch is handed over differs; batching and back-pressure are the writer's.
 */
export interface FrameSink {
  /** Hands over the frames written in one tick (`size` bytes in all); false when the sink is now back-pressured. */
  writeBatch(chunks: Uint8Array[], size: number): boolean;
  /** Listens for the sink's 'drain' after back-pressure; returns the way to stop listening. */
  onDrain(listener: () => void): () => void;
}

/** A byte stream (a net.Socket) as a FrameSink: a batch is one write, or one writev (corked) past JOIN_MAX. */
export function writableSink(out: Writable): FrameSink {
  return {
    writeBatch(chunks, size) {
      if (chunks.length === 1) return out.write(chunks[0]);
      if (size <= JOIN_MAX) return out.write(Buffer.concat(chunks, size));
      out.cork();
      let ok = true;
      for (const c of chunks) ok = out.write(c);
      out.uncork();
      return ok;
    },
    onDrain(listener) {
      out.on('drain', listener);
      return () => out.off('drain', listener);
    },
  };
}

/**
 * Frame writer for one connection. Frames written in the same tick are queued and handed to the sink together on the
 * next tick, so a burst of requests or replies costs one syscall (one gRPC message) rather than one each. When the
 * sink reports back-pressure the queue is held until 'drain'; `congested` tells the owner to stop producing.
 */
export class FrameWriter {
  /** True from a batch the sink refused to take more after, until it drains. */
  blocked = false;
  private chunks: Uint8Array[] = [];
  private size = 0;
  private scheduled = false;
  private closed = false;
  private readonly offDrain: () => void;

  constructor(
    private readonly sink: FrameSink,
    private readonly limits: EncodeLimits,
    /** Called after 'drain' once the queue has been handed over, so the owner can resume. */
    private readonly onDrain: () => void = () => undefined,
  ) {
    this.offDrain = sink.onDrain(this.drained);
  }

  /** True when the owner should stop creating work for this connection. */
  get congested(): boolean {
    return this.blocked || this.size > QUEUE_HIGH_WATER;
  }

  /** Bytes waiting here, not yet handed to the sink. */
  get queuedBytes(): number {
    return this.size;
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

  /** Queues a frame with no body: a cancel (its reason in `timeout`, docs/protocol.md §7), ping or pong. */
  control(kind: MessageKind, id: number, timeout = 0): void {
    this.write({ kind, id, codec: 0, service: '', endpoint: '', timeout, metadata: undefined, error: false, body: EMPTY }, id);
  }

  /** Hands what is queued to the sink; held while back-pressured unless `force` (the connection is ending). */
  flush(force = false): void {
    this.scheduled = false;
    if ((this.blocked && !force) || this.closed || this.chunks.length === 0) return;
    const chunks = this.chunks;
    const size = this.size;
    this.chunks = [];
    this.size = 0;
    if (!this.sink.writeBatch(chunks, size)) this.blocked = true;
  }

  /** Drops whatever is queued; later writes are ignored. */
  close(): void {
    this.closed = true;
    this.chunks = [];
    this.size = 0;
    this.offDrain();
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
