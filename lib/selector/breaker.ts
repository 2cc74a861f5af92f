import type { BreakerState } from './selector';

/**
 * A circuit breaker for one node and endpoint. Closed, it counts outcomes in a rolling window of buckets and opens
 * on a failure ratio (once the window holds enough calls) or on a run of consecutive failures. Open, it waits out
 * the pause; then half-open, it lets a few trial calls through and closes when they all succeed, or opens again as
 * soon as one fails. It holds no timers: the selector tells it the time, so an injected clock drives it in tests.
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

/** The window is this many buckets: the current one, counted in plain fields, and the ones before it. */
const BUCKETS = 10;

export class Breaker {
  state: BreakerState = 'closed';
  consecutive = 0;
  /** Open: when the pause is over. */
  retryAt = 0;
  /** Half-open: trial permits handed out and not yet returned, and trials that succeeded. */
  permits = 0;
  passed = 0;
  // The current bucket lives in fields, so counting a call touches this object only; the older buckets sit in
  // `history` (calls, failures pairs, a ring) and are touched once per bucket width, when the window moves.
  private calls = 0;
  private fails = 0;
  private bucketEnd = 0;
  private readonly history = new Int32Array(2 * (BUCKETS - 1));
  private oldest = 0;
  private pastCalls = 0;
  private pastFails = 0;
  private readonly width: number;

  constructor(
    private readonly settings: BreakerSettings,
    readonly endpoint: string,
  ) {
    this.width = Math.max(1, Math.round(settings.window / BUCKETS)); // whole ms: an integer field (see state.ts)
  }

  /** Calls and failures counted in the window. */
  get requests(): number {
    return this.pastCalls + this.calls;
  }
  get failures(): number {
    return this.pastFails + this.fails;
  }

  /** True when selection may hand the node out: closed, or half-open with a trial permit left. */
  admits(): boolean {
    return this.state === 'closed' || (this.state === 'half-open' && this.permits < this.settings.halfOpenTrials);
  }

  /** A half-open trial permit, taken when `next()` hands the node out. */
  take(): void {
    this.permits++;
  }

  /** Feeds one attempt's verdict; returns the reason when the state changed, undefined otherwise. */
  result(verdict: number, now: number): string | undefined {
    if (this.state === 'closed') return this.count(verdict, now);
    if (this.state === 'open') return undefined; // an attempt handed out before the breaker opened: already judged
    if (this.permits > 0) this.permits--;
    if (verdict === FAILURE) {
      this.open(now);
      return 'trial failed';
    }
    if (verdict === SUCCESS && ++this.passed >= this.settings.halfOpenTrials) {
      const passed = this.passed;
      this.close();
      return `${passed} trials passed`;
    }
    return undefined;
  }

  /** Open and the pause is over: go half-open. Returns true when it did. */
  wake(now: number): boolean {
    if (this.state !== 'open' || now < this.retryAt) return false;
    this.state = 'half-open';
    this.permits = 0;
    this.passed = 0;
    return true;
  }

  private count(verdict: number, now: number): string | undefined {
    if (verdict === NEUTRAL) return undefined;
    if (now >= this.bucketEnd) this.rotate(now);
    this.calls++;
    if (verdict === SUCCESS) {
      this.consecutive = 0;
      return undefined;
    }
    this.fails++;
    this.consecutive++;
    const s = this.settings;
    const requests = this.requests;
    const failures = this.failures;
    let reason: string | undefined;
    if (this.consecutive >= s.consecutiveFailures) reason = `${this.consecutive} consecutive failures`;
    else if (requests >= s.minRequests && failures >= s.failureRatio * requests) {
      reason = `failure ratio ${(failures / requests).toFixed(2)} over ${requests} calls`;
    }
    if (reason) this.open(now);
    return reason;
  }

  /** Moves the window to the bucket holding `now`: the current bucket joins the history, the oldest leaves it. */
  private rotate(now: number): void {
    const steps = this.bucketEnd === 0 ? BUCKETS : Math.floor((now - this.bucketEnd) / this.width) + 1;
    if (steps >= BUCKETS) {
      this.reset();
      this.bucketEnd = now + this.width;
      return;
    }
    const h = this.history;
    for (let i = 0; i < steps; i++) {
      const at = this.oldest * 2;
      this.pastCalls += this.calls - h[at];
      this.pastFails += this.fails - h[at + 1];
      h[at] = this.calls;
      h[at + 1] = this.fails;
      this.oldest = (this.oldest + 1) % (BUCKETS - 1);
      this.calls = this.fails = 0;
    }
    this.bucketEnd += steps * this.width;
  }

  private reset(): void {
    this.history.fill(0);
    this.calls = this.fails = this.pastCalls = this.pastFails = 0;
    this.oldest = 0;
  }

  private open(now: number): void {
    this.state = 'open';
    this.retryAt = now + this.settings.pause;
    this.permits = this.passed = 0;
  }

  private close(): void {
    this.state = 'closed';
    this.reset();
    this.consecutive = 0;
    this.bucketEnd = 0;
    this.permits = this.passed = 0;
  }
}
