import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Logger } from './observe/logger';
import type { Metadata } from './transport/transport';

/**
 * The per-request Context a handler receives. Its metadata and deadline flow into nested calls by themselves
 * (AsyncLocalStorage), so a handler that calls another service passes on the caller's trace headers and never
 * outlives the caller's deadline. The AbortSignal and the child logger are built lazily: most handlers never touch
 * them and the hot path should not pay for them.
 */
export interface Context {
  readonly service: string;
  readonly endpoint: string;
  /** Incoming metadata; copied into every call made while handling this request. */
  readonly metadata: Metadata;
  /** Epoch milliseconds after which the caller no longer waits; 0 when the caller gave none. */
  readonly deadline: number;
  /** Aborts when the deadline passes or the caller cancels. */
  readonly signal: AbortSignal;
  /** Correlates logs across services: taken from `x-request-id` metadata, or created (and propagated) on first use. */
  readonly requestId: string;
  /** A child logger bound to service, endpoint and request id. */
  readonly logger: Logger;
  /** Milliseconds left before the deadline (Infinity when there is none). */
  remaining(): number;
}

export const REQUEST_ID_KEY = 'x-request-id';

/** @internal The store behind currentContext(); hot paths call `storage.run` directly to avoid spreading arguments. */
export const storage = new AsyncLocalStorage<Context>();

/** The Context of the request being handled in the current async flow, if any. */
export function currentContext(): Context | undefined {
  return storage.getStore();
}

/** The server's Context: cheap to create; the signal, timer and logger exist only once asked for. */
export class RequestContext implements Context {
  readonly service: string;
  readonly endpoint: string;
  readonly metadata: Metadata;
  readonly deadline: number;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private childLogger: Logger | undefined;
  private finished = false;
  private abortReason: Error | undefined;

  constructor(
    service: string,
    endpoint: string,
    metadata: Metadata | undefined,
    timeoutMs: number,
    private readonly baseLogger: Logger,
    /** An absolute deadline (epoch ms) instead of `timeoutMs`, for in-process calls that already know it. */
    deadline?: number,
  ) {
    this.service = service;
    this.endpoint = endpoint;
    this.metadata = metadata ?? {};
    this.deadline = deadline ?? (timeoutMs > 0 ? Date.now() + timeoutMs : 0);
  }

  get requestId(): string {
    let id = this.metadata[REQUEST_ID_KEY];
    if (!id) {
      id = randomUUID();
      this.metadata[REQUEST_ID_KEY] = id;
    }
    return id;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
      else if (this.deadline > 0 && !this.finished) {
        const left = this.deadline - Date.now();
        if (left <= 0) this.controller.abort(deadlineError(this));
        else {
          this.timer = setTimeout(() => this.controller?.abort(deadlineError(this)), left);
          this.timer.unref();
        }
      }
    }
    return this.controller.signal;
  }

  get logger(): Logger {
    if (!this.childLogger) {
      this.childLogger = this.baseLogger.child({ service: this.service, endpoint: this.endpoint, requestId: this.requestId });
    }
    return this.childLogger;
  }

  remaining(): number {
    return this.deadline > 0 ? this.deadline - Date.now() : Infinity;
  }

  /** The caller went away (cancel frame or dropped connection). */
  cancel(reason: Error): void {
    if (this.finished) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  /** The handler completed: release the deadline timer. */
  finish(): void {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

function deadlineError(ctx: Context): Error {
  const err = new Error(`deadline exceeded for ${ctx.service}.${ctx.endpoint}`);
  err.name = 'TimeoutError';
  return err;
}
