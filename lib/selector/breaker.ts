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

// A breaker's fields, at slot * STRIDE in three arrays by how often they are used. `hot` (Int32Array): what counting
// a success reads and writes, 16 bytes side by side: FLAGS holds the state (CLOSED, OPEN or HALF_OPEN) + SEEN once an
// outcome was reported; BUCKET is the number of the window's current bucket (see `bucketOf`). `warm` (Float64Array):
// what a failure or the window moving needs. `cold`: what only an open or half-open breaker needs.
const FLAGS = 0;
const BUCKET = 1;
const CALLS = 2;
const CONSECUTIVE = 3;
const FAILS = 0;
const PAST_CALLS = 1;
const PAST_FAILS = 2;
const OLDEST = 3;
const RETRY_AT = 0;
const PERMITS = 1;
const PASSED = 2;
const STRIDE = 4;
const SEEN = 4;
/** BUCKET of a breaker that has no window yet: any real bucket is far enough after it to start afresh. */
const NO_BUCKET = -(2 ** 31);
/** Bucket numbers are counted from the table's `origin` so they stay 32-bit; past this, the origin moves on. */
const REBASE_AT = 2 ** 30;

/**
 * The breakers of one endpoint of one service, one per node slot (see state.ts), as typed arrays: counting a
 * successful call touches 16 bytes of an array that stays in cache, never an object per node. The window's current
 * bucket is counted in CALLS/FAILS; the older buckets' sums in PAST_*, their values in `history` (touched only when
 * the window moves, once per bucket width).
 */
export class BreakerTable {
  private hot = new Int32Array(0);
  private warm = new Float64Array(0);
  private cold = new Float64Array(0);
  private history = new Int32Array(0);
  private capacity = 0;
  /** Buckets are the stretches [k * width, (k + 1) * width) of the clock, numbered from `origin`. */
  private readonly width: number;
  private origin: number | undefined = undefined;
  private readonly trials: number;

  constructor(
    private readonly settings: BreakerSettings,
    readonly endpoint: string,
  ) {
    this.width = settings.window / BUCKETS;
    this.trials = settings.halfOpenTrials;
  }

  /** True once an outcome was reported for the slot: the breakers that exist, for snapshots. */
  known(slot: number): boolean {
    return slot < this.capacity && this.hot[slot * STRIDE + FLAGS] >= SEEN;
  }

  /** CLOSED, OPEN or HALF_OPEN. */
  stateOf(slot: number): number {
    return slot < this.capacity ? this.hot[slot * STRIDE + FLAGS] % SEEN : CLOSED;
  }

  /** True when selection may hand the node out: closed, or half-open with a trial permit left. */
  admits(slot: number): boolean {
    const s = this.stateOf(slot);
    return s === CLOSED || (s === HALF_OPEN && this.cold[slot * STRIDE + PERMITS] < this.trials);
  }

  /** A half-open trial permit, taken when `next()` hands the node out. */
  take(slot: number): void {
    this.cold[slot * STRIDE + PERMITS]++;
  }

  requests(slot: number): number {
    return slot < this.capacity ? this.warm[slot * STRIDE + PAST_CALLS] + this.hot[slot * STRIDE + CALLS] : 0;
  }

  failures(slot: number): number {
    return slot < this.capacity ? this.warm[slot * STRIDE + PAST_FAILS] + this.warm[slot * STRIDE + FAILS] : 0;
  }

  consecutiveFailures(slot: number): number {
    return slot < this.capacity ? this.hot[slot * STRIDE + CONSECUTIVE] : 0;
  }

  /** Open: when the pause ends. */
  retryAtOf(slot: number): number {
    return this.cold[slot * STRIDE + RETRY_AT];
  }

  /** Feeds one attempt's verdict; returns the reason when the state changed, undefined otherwise. */
  result(slot: number, verdict: number, now: number): string | undefined {
    if (slot >= this.capacity) this.grow(slot);
    const at = slot * STRIDE;
    const hot = this.hot;
    const flags = hot[at + FLAGS];
    if (flags < SEEN) hot[at + FLAGS] = flags + SEEN;
    const state = flags % SEEN;
    if (state === CLOSED) return this.count(slot, verdict, now);
    if (state === OPEN) return undefined; // an attempt handed out before the breaker opened: already judged
    const c = slot * STRIDE;
    if (this.cold[c + PERMITS] > 0) this.cold[c + PERMITS]--;
    if (verdict === FAILURE) {
      this.open(slot, now);
      return 'trial failed';
    }
    if (verdict === SUCCESS && ++this.cold[c + PASSED] >= this.trials) {
      const passed = this.cold[c + PASSED];
      this.clear(slot);
      hot[at + FLAGS] = CLOSED + SEEN;
      return `${passed} trials passed`;
    }
    return undefined;
  }

  /** Open and the pause is over: go half-open. Returns true when it did. */
  wake(slot: number, now: number): boolean {
    if (this.stateOf(slot) !== OPEN || now < this.retryAtOf(slot)) return false;
    this.setState(slot, HALF_OPEN);
    this.cold[slot * STRIDE + PERMITS] = this.cold[slot * STRIDE + PASSED] = 0;
    return true;
  }

  /** Back to a fresh closed breaker (a node closing, or leaving). */
  clear(slot: number): void {
    if (slot >= this.capacity) return;
    this.hot.fill(0, slot * STRIDE, (slot + 1) * STRIDE);
    this.hot[slot * STRIDE + BUCKET] = NO_BUCKET;
    this.warm.fill(0, slot * STRIDE, (slot + 1) * STRIDE);
    this.cold.fill(0, slot * STRIDE, (slot + 1) * STRIDE);
    this.history.fill(0, slot * 2 * PAST, (slot + 1) * 2 * PAST);
  }

  private count(slot: number, verdict: number, now: number): string | undefined {
    if (verdict === NEUTRAL) return undefined;
    const at = slot * STRIDE;
    const hot = this.hot;
    const bucket = this.bucketOf(now);
    if (bucket !== hot[at + BUCKET]) this.rotate(slot, bucket);
    hot[at + CALLS]++;
    if (verdict === SUCCESS) {
      hot[at + CONSECUTIVE] = 0;
      return undefined;
    }
    this.warm[at + FAILS]++;
    const consecutive = ++hot[at + CONSECUTIVE];
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

  /** The number of the bucket holding `now`. */
  private bucketOf(now: number): number {
    const k = Math.floor(now / this.width);
    this.origin ??= k;
    const bucket = k - this.origin;
    if (bucket < REBASE_AT) return bucket;
    this.rebase(REBASE_AT / 2);
    return k - this.origin;
  }

  /** Moves the origin `by` buckets on (once in 2^29 buckets: every 6 days with a 1 ms bucket, 17 years with 1 s). */
  private rebase(by: number): void {
    this.origin! += by;
    const hot = this.hot;
    for (let at = BUCKET; at < hot.length; at += STRIDE) hot[at] = Math.max(NO_BUCKET, hot[at] - by);
  }

  /** Moves the slot's window to `bucket`: the current bucket joins the history, the oldest leaves. */
  private rotate(slot: number, bucket: number): void {
    const at = slot * STRIDE;
    const { hot, warm } = this;
    const steps = bucket - hot[at + BUCKET];
    hot[at + BUCKET] = bucket;
    const base = slot * 2 * PAST;
    const h = this.history;
    if (steps >= BUCKETS || steps < 0) {
      h.fill(0, base, base + 2 * PAST);
      hot[at + CALLS] = 0;
      warm.fill(0, at, at + STRIDE);
      return;
    }
    for (let i = 0; i < steps; i++) {
      const oldest = warm[at + OLDEST];
      const pair = base + oldest * 2;
      warm[at + PAST_CALLS] += hot[at + CALLS] - h[pair];
      warm[at + PAST_FAILS] += warm[at + FAILS] - h[pair + 1];
      h[pair] = hot[at + CALLS];
      h[pair + 1] = warm[at + FAILS];
      warm[at + OLDEST] = oldest + 1 === PAST ? 0 : oldest + 1;
      hot[at + CALLS] = warm[at + FAILS] = 0;
    }
  }

  private open(slot: number, now: number): void {
    this.setState(slot, OPEN);
    const c = slot * STRIDE;
    this.cold[c + RETRY_AT] = now + this.settings.pause;
    this.cold[c + PERMITS] = this.cold[c + PASSED] = 0;
  }

  private setState(slot: number, state: number): void {
    const at = slot * STRIDE + FLAGS;
    this.hot[at] = (this.hot[at] >= SEEN ? SEEN : 0) + state;
  }

  private grow(slot: number): void {
    let capacity = Math.max(16, this.capacity * 2);
    while (capacity <= slot) capacity *= 2;
    const widen = (a: Float64Array) => {
      const b = new Float64Array(capacity * STRIDE);
      b.set(a);
      return b;
    };
    const hot = new Int32Array(capacity * STRIDE);
    hot.set(this.hot);
    for (let at = this.capacity * STRIDE + BUCKET; at < hot.length; at += STRIDE) hot[at] = NO_BUCKET;
    const warm = widen(this.warm);
    const cold = widen(this.cold);
    const history = new Int32Array(capacity * 2 * PAST);
    history.set(this.history);
    this.hot = hot;
    this.warm = warm;
    this.cold = cold;
    this.history = history;
    this.capacity = capacity;
  }
}
