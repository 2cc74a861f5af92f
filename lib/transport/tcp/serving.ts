import { errorResponse } from '../error-response';
import type { Logger } from '../../observe/logger';
import { type Message, MessageKind, type PeerInfo, type RequestHandler } from '../transport';
import { type EncodeLimits, type Frame, FrameError, inflateInPlace } from './frame';
import { FrameReader } from './reader';
import { type FrameSink, FrameWriter } from './writer';

/** Marks a request whose caller cancelled before the handler registered a callback: a later onCancel runs at once. */
const CANCELLED = 1;
type CancelSlot = (() => void) | typeof CANCELLED | undefined;

export interface ServingOptions {
  maxFrameSize: number;
  /** Requests in flight past which the server stops reading this connection. */
  maxInFlight: number;
  logger: Logger;
}

/**
 * The server side of one connection carrying tcp frames, whatever carries the bytes (a tcp socket, a gRPC frames
 * call): reads request and cancel frames, hands requests to the handler, writes the one reply each. It stops reading
 * (and stops dispatching frames already buffered) while the connection is at its in-flight cap or its replies are not
 * being taken, and resumes when both clear. On drain() it refuses new work and ends once the last reply is out.
 *
 * A subclass connects the byte source and the sink, says how to pause, resume, end and fail the connection, and may
 * dispatch more kinds of frames (tcp: pings, streams).
 */
export abstract class ServingPeer<O extends ServingOptions = ServingOptions> implements PeerInfo {
  abstract readonly remote: string;
  /** Requests dispatched and not yet replied to, with their cancel callbacks. */
  protected readonly inflight = new Map<number, CancelSlot>();
  protected readonly reader: FrameReader;
  protected readonly writer: FrameWriter;
  protected paused = false;
  protected closed = false;
  /** Set by the listener's close: new requests are refused, and the connection ends once idle. */
  protected draining = false;
  private pumping = false;

  constructor(
    protected readonly handler: RequestHandler,
    protected readonly opts: O,
    sink: FrameSink,
    limits: EncodeLimits,
    /** Names the transport in log lines ('tcp transport'). */
    private readonly label: string,
  ) {
    this.reader = new FrameReader(opts.maxFrameSize);
    this.writer = new FrameWriter(sink, limits, () => this.maybeResume());
  }

  /** Stops the byte source (gRPC or TCP flow control then pushes back on the peer). */
  protected abstract pauseSource(): void;
  protected abstract resumeSource(): void;
  /** Ends the connection cleanly: what is queued goes out first. */
  protected abstract end(): void;
  /** Closes this connection because of a protocol problem; only this connection is affected. */
  abstract fail(reason: string): void;

  onCancel(id: number, cb: () => void): void {
    const slot = this.inflight.get(id);
    if (slot === CANCELLED) this.runCancel(cb);
    else if (this.inflight.has(id)) this.inflight.set(id, cb);
  }

  clearCancel(id: number): void {
    if (this.inflight.get(id) !== undefined) this.inflight.set(id, undefined);
  }

  /** Listener close: refuse new work, end now if idle, otherwise once the last reply is out. */
  drain(): void {
    this.draining = true;
    if (this.inflight.size === 0) this.end();
  }

  /** Bytes from the peer. */
  protected received(chunk: Buffer): void {
    this.reader.push(chunk);
    this.pump();
  }

  /** True when request `id` is in flight and its caller has cancelled it. */
  protected isCancelled(id: number): boolean {
    return this.inflight.get(id) === CANCELLED;
  }

  /** At the in-flight cap the connection stops reading. */
  protected get full(): boolean {
    return this.inflight.size >= this.opts.maxInFlight;
  }

  /** After a pump that was not skipped; `completed` says whether any whole frame was read. */
  protected pumped(_completed: boolean): void {}

  /** Request and cancel frames; the rest are logged and ignored unless a subclass handles them. */
  protected dispatch(f: Frame): void {
    if (f.kind === MessageKind.request) return this.serve(f);
    if (f.kind === MessageKind.cancel) return this.cancelInFlight(f.id);
    this.opts.logger.debug({ remote: this.remote, kind: f.kind }, `${this.label}: ignoring unexpected frame`);
  }

  /** The caller gave up on request `id`: run its cancel callback, or remember for one registered later. */
  protected cancelInFlight(id: number): void {
    const slot = this.inflight.get(id);
    if (typeof slot === 'function') this.runCancel(slot);
    if (this.inflight.has(id)) this.inflight.set(id, CANCELLED);
  }

  protected serve(f: Frame): void {
    const id = f.id;
    if (this.inflight.has(id)) return this.fail(`duplicate request id ${id}`);
    this.inflight.set(id, undefined);
    if (this.draining) return this.send(id, errorResponse(f, 503, 'server is shutting down'));
    const refused = inflateInPlace(f, this.opts.maxFrameSize);
    if (refused) {
      this.opts.logger.warn({ remote: this.remote, reason: refused.reason, id }, `${this.label}: refusing request body`);
      return this.send(id, errorResponse(f, refused.code, refused.reason));
    }
    try {
      this.handler(f, (res) => this.send(id, res), this);
    } catch (err) {
      // A handler must reply through `reply`; one that throws would otherwise leave the caller waiting.
      this.opts.logger.error({ remote: this.remote, err }, `${this.label}: request handler threw`);
      this.send(id, errorResponse(f, 500, 'request handler failed'));
    }
  }

  /** A request was answered (or its stream ended): end a draining connection once idle, else maybe read again. */
  protected settled(): void {
    if (this.draining && this.inflight.size === 0) this.end();
    else this.maybeResume();
  }

  /** The connection is gone: nothing more is written, and the requests still in flight are cancelled. */
  protected markClosed(): void {
    this.closed = true;
    this.writer.close();
    for (const slot of this.inflight.values()) if (typeof slot === 'function') this.runCancel(slot);
    this.inflight.clear();
  }

  protected maybeResume(): void {
    if (!this.paused || this.closed) return;
    if (this.full || this.writer.congested) return;
    this.paused = false;
    this.resumeSource();
    this.pump();
  }

  private pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    let completed = false;
    try {
      while (!this.closed) {
        if (this.full || this.writer.congested) {
          this.pause();
          break;
        }
        const frame = this.reader.next();
        if (frame === null) break;
        completed = true;
        this.dispatch(frame);
      }
    } catch (err) {
      if (err instanceof FrameError) {
        this.fail(err.reason);
      } else {
        // A bug here must cost this one connection, not the process and every other client with it.
        this.opts.logger.error({ remote: this.remote, err }, `${this.label}: failed to process a frame`);
        this.fail(`internal error: ${(err as Error).message}`);
      }
    } finally {
      this.pumping = false;
    }
    this.pumped(completed);
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.pauseSource();
  }

  /** Sends the one reply for request `id`; later replies for the same id are dropped. */
  private send(id: number, res: Message): void {
    if (!this.inflight.delete(id) || this.closed) return;
    try {
      this.writer.write(res, id);
    } catch (err) {
      const e = err as FrameError;
      this.opts.logger.warn({ remote: this.remote, reason: e.message, id }, `${this.label}: reply not sendable`);
      this.writer.write(errorResponse(res, e.code || 500, `reply not sendable: ${e.message}`), id);
    }
    this.settled();
  }

  private runCancel(cb: () => void): void {
    try {
      cb();
    } catch (err) {
      // A failing cancel callback must not stop the others.
      this.opts.logger.error({ remote: this.remote, err }, `${this.label}: cancel callback threw`);
    }
  }
}
