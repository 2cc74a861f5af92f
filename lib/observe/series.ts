/**
 * The numbers metrics keep on the hot path: plain fields and typed arrays, one object per label set, found once (per
 * endpoint at registration on the server, through a two-level Map per call on the client). prom-client's own
 * `observe` hashes the label values and validates them on every call (about 300 ns a histogram, 180 ns a gauge
 * inc+dec on this machine); these cost a few ns. The Registry reads them only when /metrics is scraped
 * (exposition.ts).
 */

/** Seconds. From 100 µs (in-process calls) to 10 s, so fast and slow calls both land in a bucket that says something. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The label value every series past the cardinality cap shares. */
export const OTHER = 'other';

/** Codes outside 100-599 (a handler may throw any number) share this key, exposed as `code="other"`. */
const OTHER_CODE = -1;

/** A histogram's state for one label set: a count per bucket (not cumulative; the last slot is +Inf), sum, count. */
export class Timing {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/** The code label of an outcome: 200 for success, the RpcError's code otherwise, 500 for anything without one. */
export function codeOf(error: unknown): number {
  if (error === undefined) return 200;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'number') return 500;
  return boundedCode(code);
}

/** A code as a label may hold it: 100-599, anything else is `other` (labels stay few whatever handlers throw). */
export function boundedCode(code: number): number {
  return Number.isInteger(code) && code >= 100 && code <= 599 ? code : OTHER_CODE;
}

export function codeLabel(code: number): string {
  return code === OTHER_CODE ? OTHER : String(code);
}

/** One rpc_method: requests in flight now and a Timing per code. Code 200 has its own field (the common case). */
export class MethodSeries {
  inFlight = 0;
  readonly ok: Timing;
  private readonly failed = new Map<number, Timing>();

  constructor(
    readonly method: string,
    private readonly bounds: readonly number[],
  ) {
    this.ok = new Timing(bounds);
  }

  /** A request or call began: returns its start time (performance.now() ms) for `stop`. */
  start(): number {
    this.inFlight++;
    return performance.now();
  }

  /** The request that began at `started` was answered with `code` (the server's EndpointMeter). */
  stop(started: number, code: number): void {
    this.inFlight--;
    this.record(code === 200 ? 200 : boundedCode(code), (performance.now() - started) / 1000);
  }

  record(code: number, seconds: number): void {
    if (code === 200) return this.ok.observe(seconds);
    let t = this.failed.get(code);
    if (!t) this.failed.set(code, (t = new Timing(this.bounds)));
    t.observe(seconds);
  }

  /** Every code seen so far with its Timing (200 only once it has been seen). */
  *timings(): IterableIterator<[number, Timing]> {
    if (this.ok.count > 0) yield [200, this.ok];
    yield* this.failed;
  }
}

/** The client's series for one rpc_method also count retries and 408s. */
export class ClientMethodSeries extends MethodSeries {
  retries = 0;
  timeouts = 0;

  /** A call began. Returns the time it began, for `end`. */
  begin(): number {
    return this.start();
  }

  /** The call that began at `started` (performance.now() ms) ended, with `error` or none. */
  end(started: number, error: unknown, now = performance.now()): void {
    this.inFlight--;
    const code = codeOf(error);
    if (code === 408) this.timeouts++;
    this.record(code, (now - started) / 1000);
  }

  retry(): void {
    this.retries++;
  }
}

/**
 * Values keyed by a label value, at most `limit` distinct ones: past it every new key gets the shared `other` value
 * (never stored under its key, so the map cannot grow with the keys callers invent).
 */
export class CappedLabels<T> {
  private readonly byKey = new Map<string, T>();
  private other: T | undefined;

  constructor(
    readonly limit: number,
    private readonly make: (label: string) => T,
  ) {}

  get(key: string): T {
    const hit = this.byKey.get(key);
    if (hit !== undefined) return hit;
    if (this.byKey.size < this.limit) {
      const made = this.make(key);
      this.byKey.set(key, made);
      return made;
    }
    return (this.other ??= this.make(OTHER));
  }

  /** Every value, `other` last when some key overflowed. */
  *values(): IterableIterator<T> {
    yield* this.byKey.values();
    if (this.other !== undefined) yield this.other;
  }

  get size(): number {
    return this.byKey.size;
  }
}

/**
 * The client's per-call lookup: service, then endpoint, without building a `service/endpoint` string per call. The
 * cap counts rpc_method values across all services.
 */
export class ClientMethods {
  private readonly services = new Map<string, Map<string, ClientMethodSeries>>();
  private readonly all: ClientMethodSeries[] = [];
  private other: ClientMethodSeries | undefined;

  constructor(
    readonly limit: number,
    private readonly bounds: readonly number[],
  ) {}

  get(service: string, endpoint: string): ClientMethodSeries {
    let byEndpoint = this.services.get(service);
    const hit = byEndpoint?.get(endpoint);
    if (hit !== undefined) return hit;
    if (this.all.length >= this.limit) return (this.other ??= new ClientMethodSeries(OTHER, this.bounds));
    if (!byEndpoint) this.services.set(service, (byEndpoint = new Map()));
    const made = new ClientMethodSeries(`${service}/${endpoint}`, this.bounds);
    byEndpoint.set(endpoint, made);
    this.all.push(made);
    return made;
  }

  *values(): IterableIterator<ClientMethodSeries> {
    yield* this.all;
    if (this.other !== undefined) yield this.other;
  }
}

/** A counter per code under one label (topic): broker publish and consume counts. */
export class CodeCounts {
  private readonly counts = new Map<number, number>();

  constructor(readonly label: string) {}

  add(code: number): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
  }

  entries(): IterableIterator<[number, number]> {
    return this.counts.entries();
  }
}
