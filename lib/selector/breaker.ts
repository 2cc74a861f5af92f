import type { BreakerState } from './selector';

/**
 * Circuit breakers, one per node and endpoint. Closed, a breaker counts outcomes in a rolling window of buckets and
 * opens on a failure ratio (once the window holds enough calls) or on a run of consecutive failures. Open, it waits
 * out the pause; then half-open, it lets a few trial calls through and closes when they all succeed, or opens again
 * as soon as one fails. No timers: the selector passes the time in, so an injected clock drives them in tests.
 */

export interface BreakerOptions {
  /** The rolling window the failure ratio is computed over, in ms. */
  window?: number;
  /** Calls the window must hold before the failure ratio may open the breaker. */
  minRequests?: number;
  /** Failures / calls in the window at or above which the breaker opens (0 < ratio <= 1). */
  failureRatio?: number;
  /** Failures in a row that open the breaker whatever the ratio. */
  consecutiveFailures?: number;
  /** How long an open breaker keeps the node out before trial calls, in ms. */
  pause?: number;
  /** Trial calls let through when half-open; all of them must succeed to close. */
  halfOpenTrials?: number;
}

export type BreakerSettings = Required<BreakerOptions>;

export const BREAKER_DEFAULTS: Readonly<BreakerSettings> = {
  window: 10_000,
  minRequests: 20,
  failureRatio: 0.5,
  consecutiveFailures: 5,
  pause: 5_000,
  halfOpenTrials: 3,
};

/** Defaults filled in and every value checked, so a typo fails at startup rather than never opening. */
export function breakerSettings(options: BreakerOptions = {}): BreakerSettings {
  const s = { ...BREAKER_DEFAULTS, ...options };
  const positive = (name: keyof BreakerSettings) => {
    if (!(Number.isFinite(s[name]) && s[name] > 0)) throw new Error(`breaker.${name} must be a positive number, got ${s[name]}`);
  };
  (['window', 'minRequests', 'consecutiveFailures', 'pause', 'halfOpenTrials'] as const).forEach(positive);
  if (!(s.failureRatio > 0 && s.failureRatio <= 1)) throw new Error(`breaker.failureRatio must be in (0, 1], got ${s.failureRatio}`);
  return s;
}

/** What one attempt says about the node: plain numbers, compared on every call. */
export const SUCCESS = 0;
export const FAILURE = 1;
/** Says nothing either way (the caller cancelled). */
export const NEUTRAL = 2;

/**
 * The breaker's reading of an attempt's error. Failures: errors without a numeric code (a local failure, a broken
 * socket), codes >= 500, 408 (no answer in time) and 429 (the node sheds load). 499 (the caller cancelled) is
 * neutral. Every other code below 500 (400, 401, 403, 404, 409, 413 ...) is the node answering correctly about a bad
 * request, so it counts as a success.
 */
export function verdictOf(error: Error | undefined): number {
  if (!error) return SUCCESS;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'number' || code >= 500 || code === 408 || code === 429) return FAILURE;
  return code === 499 ? NEUTRAL : SUCCESS;
}

/** Connection-level errors (no numeric code, 502, 503) put the node in the short cool-down besides the breaker. */
export function isConnectionError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code !== 'number' || code === 502 || code === 503;
}

/** The window is this many buckets: the current one, counted apart, and the ones before it. */
const BUCKETS = 10;
const PAST = BUCKETS - 1;

export const CLOSED = 0;
export const OPEN = 1;
export const HALF_OPEN = 2;
export const STATE_NAMES: readonly BreakerState[] = ['closed', 'open', 'half-open'];

/**
 * The breakers of one endpoint of one service, one per node slot (see state.ts), kept as typed arrays so counting a
 * call touches a few entries of arrays that stay in cache, never an object per node.
 *
 * Per slot, closed: the current bucket's calls and failures, the consecutive failures, the end of the current bucket,
 * and the sums of the older buckets (their values sit in `history`, touched only when the window moves, once per
 * bucket width). Open: when the pause ends. Half-open: trial permits out and trials passed.
 */
export class BreakerTable {
  private state = new Uint8Array(0);
  /** 1 once an outcome was reported for the slot: the breakers that exist, for snapshots. */
  private seen = new Uint8Array(0);
  private calls = new Int32Array(0);
  private fails = new Int32Array(0);
  private consecutive = new Int32Array(0);
  private bucketEnd = new Int32Array(0);
  private pastCalls = new Int32Array(0);
  private pastFails = new Int32Array(0);
  private oldest = new Int32Array(0);
  private retryAt = new Int32Array(0);
  private permits = new Int32Array(0);
  private passed = new Int32Array(0);
  private history = new Int32Array(0);
  private capacity = 0;
  private readonly width: number;
  private readonly trials: number;

  constructor(
    private readonly settings: BreakerSettings,
    readonly endpoint: string,
  ) {
    this.width = Math.max(1, Math.round(settings.window / BUCKETS)); // whole ms: integer arithmetic
    this.trials = settings.halfOpenTrials;
  }

  known(slot: number): boolean {
    return slot < this.capacity && this.seen[slot] === 1;
  }

  /** CLOSED, OPEN or HALF_OPEN. */
  stateOf(slot: number): number {
    return slot < this.capacity ? this.state[slot] : CLOSED;
  }

  /** True when selection may hand the node out: closed, or half-open with a trial permit left. */
  admits(slot: number): boolean {
    if (slot >= this.capacity) return true;
    const s = this.state[slot];
    return s === CLOSED || (s === HALF_OPEN && this.permits[slot] < this.trials);
  }

  /** A half-open trial permit, taken when `next()` hands the node out. */
  take(slot: number): void {
    this.permits[slot]++;
  }

  requests(slot: number): number {
    return slot < this.capacity ? this.pastCalls[slot] + this.calls[slot] : 0;
  }

  failures(slot: number): number {
    return slot < this.capacity ? this.pastFails[slot] + this.fails[slot] : 0;
  }

  consecutiveFailures(slot: number): number {
    return slot < this.capacity ? this.consecutive[slot] : 0;
  }

  /** Open: when the pause ends. */
  retryAtOf(slot: number): number {
    return this.retryAt[slot];
  }

  /** Feeds one attempt's verdict; returns the reason when the state changed, undefined otherwise. */
  result(slot: number, verdict: number, now: number): string | undefined {
    if (slot >= this.capacity) this.grow(slot);
    this.seen[slot] = 1;
    const state = this.state[slot];
    if (state === CLOSED) return this.count(slot, verdict, now);
    if (state === OPEN) return undefined; // an attempt handed out before the breaker opened: already judged
    if (this.permits[slot] > 0) this.permits[slot]--;
    if (verdict === FAILURE) {
      this.open(slot, now);
      return 'trial failed';
    }
    if (verdict === SUCCESS && ++this.passed[slot] >= this.trials) {
      const passed = this.passed[slot];
      this.clear(slot);
      this.seen[slot] = 1;
      return `${passed} trials passed`;
    }
    return undefined;
  }

  /** Open and the pause is over: go half-open. Returns true when it did. */
  wake(slot: number, now: number): boolean {
    if (this.stateOf(slot) !== OPEN || now < this.retryAt[slot]) return false;
    this.state[slot] = HALF_OPEN;
    this.permits[slot] = this.passed[slot] = 0;
    return true;
  }

  /** Back to a fresh closed breaker (a node closing, or leaving). */
  clear(slot: number): void {
    if (slot >= this.capacity) return;
    this.state[slot] = CLOSED;
    this.seen[slot] = 0;
    this.calls[slot] = this.fails[slot] = this.consecutive[slot] = this.bucketEnd[slot] = 0;
    this.pastCalls[slot] = this.pastFails[slot] = this.oldest[slot] = 0;
    this.retryAt[slot] = this.permits[slot] = this.passed[slot] = 0;
    this.history.fill(0, slot * 2 * PAST, (slot + 1) * 2 * PAST);
  }

  private count(slot: number, verdict: number, now: number): string | undefined {
    if (verdict === NEUTRAL) return undefined;
    if (now >= this.bucketEnd[slot]) this.rotate(slot, now);
    this.calls[slot]++;
    if (verdict === SUCCESS) {
      this.consecutive[slot] = 0;
      return undefined;
    }
    this.fails[slot]++;
    const consecutive = ++this.consecutive[slot];
    const s = this.settings;
    const requests = this.requests(slot);
    const failures = this.failures(slot);
    let reason: string | undefined;
    if (consecutive >= s.consecutiveFailures) reason = `${consecutive} consecutive failures`;
    else if (requests >= s.minRequests && failures >= s.failureRatio * requests) {
      reason = `failure ratio ${(failures / requests).toFixed(2)} over ${requests} calls`;
    }
    if (reason) this.open(slot, now);
    return reason;
  }

  /** Moves the slot's window to the bucket holding `now`: the current bucket joins the history, the oldest leaves. */
  private rotate(slot: number, now: number): void {
    const end = this.bucketEnd[slot];
    const steps = end === 0 ? BUCKETS : Math.floor((now - end) / this.width) + 1;
    const base = slot * 2 * PAST;
    const h = this.history;
    if (steps >= BUCKETS) {
      h.fill(0, base, base + 2 * PAST);
      this.calls[slot] = this.fails[slot] = this.pastCalls[slot] = this.pastFails[slot] = this.oldest[slot] = 0;
      this.bucketEnd[slot] = now + this.width;
      return;
    }
    for (let i = 0; i < steps; i++) {
      const oldest = this.oldest[slot];
      const at = base + oldest * 2;
      this.pastCalls[slot] += this.calls[slot] - h[at];
      this.pastFails[slot] += this.fails[slot] - h[at + 1];
      h[at] = this.calls[slot];
      h[at + 1] = this.fails[slot];
      this.oldest[slot] = oldest + 1 === PAST ? 0 : oldest + 1;
      this.calls[slot] = this.fails[slot] = 0;
    }
    this.bucketEnd[slot] = end + steps * this.width;
  }

  private open(slot: number, now: number): void {
    this.state[slot] = OPEN;
    this.retryAt[slot] = now + this.settings.pause;
    this.permits[slot] = this.passed[slot] = 0;
  }

  private grow(slot: number): void {
    let capacity = Math.max(16, this.capacity * 2);
    while (capacity <= slot) capacity *= 2;
    const widen = <T extends Uint8Array | Int32Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (n: number) => T)(capacity * per);
      b.set(a);
      return b;
    };
    this.state = widen(this.state);
    this.seen = widen(this.seen);
    this.calls = widen(this.calls);
    this.fails = widen(this.fails);
    this.consecutive = widen(this.consecutive);
    this.bucketEnd = widen(this.bucketEnd);
    this.pastCalls = widen(this.pastCalls);
    this.pastFails = widen(this.pastFails);
    this.oldest = widen(this.oldest);
    this.retryAt = widen(this.retryAt);
    this.permits = widen(this.permits);
    this.passed = widen(this.passed);
    this.history = widen(this.history, 2 * PAST);
    this.capacity = capacity;
  }
}
