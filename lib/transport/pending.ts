import { RpcError } from '../errors';
import { type Message, type RequestOptions, TRANSPORT_ERROR_ID } from './transport';

/**
 * The caller's side of multiplexed requests, shared by every transport that matches responses to requests itself
 * (tcp, grpc, nats): the table of requests waiting for an answer, their deadlines, their abort signals, and failing
 * them all when the connection goes. What is transport-specific (sending the cancel) is the owner's `abandoned` hook.
 */

/** setTimeout's ceiling; longer timeouts would fire at once. */
const MAX_TIMER = 0x7fffffff;

/** One request waiting for its response. */
export interface PendingCall<C = undefined> {
  resolve(m: Message): void;
  reject(e: Error): void;
  /** performance.now() value past which the request fails with 408 (a stream it opens inherits the rest). */
  readonly deadline: number;
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** What the owner keeps with the request (nats: where it went and what to cancel). */
  readonly context: C;
}

export interface PendingHooks<K, C> {
  /**
   * The request failed here while the peer may still be working on it (its deadline passed, or its caller aborted):
   * the owner tells the peer to stop. The caller has already been rejected with `err`.
   */
  abandoned(key: K, err: RpcError, call: PendingCall<C>): void;
  /** Every request leaving the table, however it leaves; for owners that index requests elsewhere too. */
  released?(key: K, call: PendingCall<C>): void;
}

/**
 * Why a request cannot even be sent, or undefined: the checks every transport makes before it writes anything, in
 * this order (an aborted signal wins over a spent deadline).
 */
export function refuseEarly({ timeout, signal }: RequestOptions): RpcError | undefined {
  if (signal?.aborted) return new RpcError(TRANSPORT_ERROR_ID, 499, 'request aborted');
  if (!(timeout > 0)) return new RpcError(TRANSPORT_ERROR_ID, 408, 'request deadline already passed');
  return undefined;
}

/**
 * Requests waiting for their responses, by key (a request id, or nats' reply token). One timer per table instead of
 * one per request (a timer costs about as much as framing a request): it is armed for the earliest deadline, and when
 * it fires it fails what has expired with 408 and re-arms for the next deadline.
 */
export class PendingRequests<K = number, C = undefined> {
  private readonly calls = new Map<K, PendingCall<C>>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(private readonly hooks: PendingHooks<K, C>) {}

  get size(): number {
    return this.calls.size;
  }

  has(key: K): boolean {
    return this.calls.has(key);
  }

  /**
   * Waits for the response to request `key`, which the owner has sent (or is about to): the promise settles through
   * take() with the response, or fails with 408 after `timeout` ms, 499 when `signal` aborts, or failAll's error.
   */
  add(key: K, timeout: number, signal: AbortSignal | undefined, context: C): Promise<Message> {
    const now = performance.now();
    const deadline = now + Math.min(timeout, MAX_TIMER);
    if (deadline < this.timerAt) this.arm(deadline, now);
    return new Promise<Message>((resolve, reject) => {
      const call: PendingCall<C> = { resolve, reject, deadline, timeout, signal, onAbort: undefined, context };
      if (signal) {
        call.onAbort = () => this.giveUp(key, new RpcError(TRANSPORT_ERROR_ID, 499, 'request aborted'));
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      this.calls.set(key, call);
    });
  }

  /** Removes request `key` for its owner to settle (its response came, say); undefined when it is no longer waiting. */
  take(key: K): PendingCall<C> | undefined {
    const call = this.calls.get(key);
    if (!call) return undefined;
    this.calls.delete(key);
    if (call.onAbort) call.signal?.removeEventListener('abort', call.onAbort);
    this.hooks.released?.(key, call);
    return call;
  }

  /** Fails request `key` with `err` and has the owner tell the peer (see PendingHooks.abandoned). */
  giveUp(key: K, err: RpcError): void {
    const call = this.take(key);
    if (!call) return;
    call.reject(err);
    this.hooks.abandoned(key, err, call);
  }

  /** Fails everything waiting with `err` (the connection is gone: nothing to cancel). The table stays usable. */
  failAll(err: Error): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    for (const key of [...this.calls.keys()]) this.take(key)?.reject(err);
  }

  private arm(at: number, now: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(at - now)));
    // An open connection already keeps the process alive while anything is pending; an idle one must not be held.
    this.timer.unref();
  }

  /** Fails every request past its deadline with 408 and re-arms for the earliest one left. */
  private readonly expire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    const expired: [K, PendingCall<C>][] = [];
    for (const entry of this.calls) {
      if (entry[1].deadline <= now) expired.push(entry);
      else if (entry[1].deadline < next) next = entry[1].deadline;
    }
    for (const [key, call] of expired) this.giveUp(key, new RpcError(TRANSPORT_ERROR_ID, 408, `no response within ${call.timeout} ms`));
    // An owner that closed while giving up emptied the table: nothing to wait for. One that sent a request meanwhile
    // may already have armed the timer for an earlier deadline.
    if (next !== Infinity && next < this.timerAt && this.calls.size > 0) this.arm(next, now);
  };
}
