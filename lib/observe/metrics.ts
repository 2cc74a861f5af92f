import { collectDefaultMetrics, Registry } from 'prom-client';
import type { CallObserver } from '../client/client';
import type { Context } from '../context';
import type { EndpointInfo, EndpointMeter, HandlerFn, HandlerWrapper } from '../server/endpoint';
import type { BreakerState, Selector } from '../selector/selector';
import { liveCounter, liveGauge, SeriesHistogram } from './exposition';
import { CappedLabels, ClientMethods, ClientMethodSeries, codeLabel, codeOf, CodeCounts, DURATION_BUCKETS, MethodSeries } from './series';

/**
 * A service's Prometheus metrics, in a Registry of its own (never prom-client's global one, so two services in one
 * process keep apart). The Service builds one only when metrics are on, and then wires three hooks, each composed
 * once: a HandlerWrapper around every endpoint and subscriber (server side), a CallObserver the Client calls once
 * per call and on each retry (client side), and a breaker listener on the selector. With metrics off none of them
 * exists and prom-client is never loaded.
 *
 * Label cardinality is bounded. Server-side rpc_method values come only from endpoints this service serves; on the
 * client side, rpc_method values, published topics and breaker services are capped at `labelLimit` (256) distinct
 * values each, and everything past the cap is counted under `other`. Codes outside 100-599 are `code="other"`.
 */

export interface MetricsOptions {
  /** Most distinct label values per client-side label (rpc_method, topic, rpc_service); the rest is `other`. 256. */
  labelLimit?: number;
  /** Duration buckets in seconds (default 100 µs ... 10 s). */
  buckets?: number[];
  /** prom-client's process metrics (CPU, memory, event loop lag, GC...). Default true. */
  processMetrics?: boolean;
}

/** Every metric this module registers besides the process defaults; the README table and the dashboard use these. */
export const METRIC_NAMES = [
  'rpc_server_call_duration_seconds',
  'rpc_server_in_flight',
  'rpc_client_call_duration_seconds',
  'rpc_client_in_flight',
  'rpc_client_retries_total',
  'rpc_client_timeouts_total',
  'rpc_breaker_transitions_total',
  'rpc_breakers',
  'broker_published_total',
  'broker_consumed_total',
] as const;

export const DEFAULT_LABEL_LIMIT = 256;

const BREAKER_STATES: readonly BreakerState[] = ['closed', 'open', 'half-open'];

export class ServiceMetrics implements CallObserver {
  readonly registry = new Registry();
  readonly labelLimit: number;
  private readonly bounds: readonly number[];
  private readonly served: MethodSeries[] = [];
  private readonly calls: ClientMethods;
  private readonly publishes: CappedLabels<CodeCounts>;
  /** Subscribed topics are declared in code, so bounded already; the cap is a guard all the same. */
  private readonly consumes: CappedLabels<CodeCounts>;
  private readonly transitions: CappedLabels<{ service: string; to: Map<string, number> }>;
  private selector: Selector | undefined;

  constructor(options: MetricsOptions = {}) {
    this.labelLimit = options.labelLimit ?? DEFAULT_LABEL_LIMIT;
    if (!(Number.isInteger(this.labelLimit) && this.labelLimit > 0)) throw new Error(`metrics labelLimit must be a positive integer, got ${options.labelLimit}`);
    const bounds = options.buckets ?? DURATION_BUCKETS;
    if (!bounds.length || bounds.some((b, i) => !(b > 0) || (i > 0 && b <= bounds[i - 1]))) {
      throw new Error('metrics buckets must be positive and increasing');
    }
    this.bounds = bounds;
    this.calls = new ClientMethods(this.labelLimit, bounds);
    this.publishes = new CappedLabels(this.labelLimit, (topic) => new CodeCounts(topic));
    this.consumes = new CappedLabels(this.labelLimit, (topic) => new CodeCounts(topic));
    this.transitions = new CappedLabels(this.labelLimit, (service) => ({ service, to: new Map() }));
    this.define();
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The server-side HandlerWrapper, composed once per endpoint: counts subscribers' events and times streaming
   * methods. Unary methods are timed by their EndpointMeter instead (`meter`), which costs no promise per call.
   */
  readonly wrapHandler: HandlerWrapper = (next, info) => {
    if (info.type === 'subscriber') return this.countConsumed(next, info);
    return info.stream ? this.timeServed(next, info) : next;
  };

  /** The meter of one unary method; the Server calls it around every request of that method. */
  readonly meter = (info: EndpointInfo): EndpointMeter => {
    const series = new MethodSeries(`${info.service}/${info.endpoint}`, this.bounds);
    this.served.push(series);
    return series;
  };

  /** CallObserver: the series of one rpc_method, looked up once per call. */
  series(service: string, endpoint: string): ClientMethodSeries {
    return this.calls.get(service, endpoint);
  }

  /** CallObserver: one publish through this service's client, with its outcome. */
  published(topic: string, error: unknown): void {
    this.publishes.get(topic).add(codeOf(error));
  }

  /** Counts the selector's breaker transitions and reports its breakers' states; returns the function that stops it. */
  watch(selector: Selector): () => void {
    this.selector = selector;
    const stop = selector.onBreakerChange?.((event) => {
      const { to } = this.transitions.get(event.service);
      to.set(event.to, (to.get(event.to) ?? 0) + 1);
    });
    return () => {
      stop?.();
      this.selector = undefined;
    };
  }

  private timeServed(next: HandlerFn, info: EndpointInfo): HandlerFn {
    const series = new MethodSeries(`${info.service}/${info.endpoint}`, this.bounds);
    this.served.push(series);
    const settle = (started: number, ctx: Context, error: unknown): void => {
      series.inFlight--;
      // Past the deadline the server answers 408 whatever the handler did: count what the caller is told.
      const code = ctx.deadline > 0 && Date.now() >= ctx.deadline ? 408 : codeOf(error);
      series.record(code, (performance.now() - started) / 1000);
    };
    const measured: HandlerFn = (request, ctx) => {
      series.inFlight++;
      const started = performance.now();
      let result: unknown;
      try {
        result = next(request, ctx);
      } catch (err) {
        settle(started, ctx, err);
        throw err;
      }
      if (!(result instanceof Promise)) {
        settle(started, ctx, undefined);
        return result;
      }
      return result.then(
        (value) => {
          settle(started, ctx, undefined);
          return value;
        },
        (err: unknown) => {
          settle(started, ctx, err);
          throw err;
        },
      );
    };
    return measured;
  }

  private countConsumed(next: HandlerFn, info: EndpointInfo): HandlerFn {
    const counts = this.consumes.get(info.endpoint);
    const counted: HandlerFn = (request, ctx) => {
      let result: unknown;
      try {
        result = next(request, ctx);
      } catch (err) {
        counts.add(codeOf(err));
        throw err;
      }
      if (!(result instanceof Promise)) {
        counts.add(200);
        return result;
      }
      return result.then(
        (value) => {
          counts.add(200);
          return value;
        },
        (err: unknown) => {
          counts.add(codeOf(err));
          throw err;
        },
      );
    };
    return counted;
  }

  private define(): void {
    const r = this.registry;
    const served = () => this.served;
    const calls = () => this.calls.values();
    new SeriesHistogram('rpc_server_call_duration_seconds', 'Time to handle a request, by rpc_method (service/Endpoint) and code.', r, this.bounds, served);
    new SeriesHistogram(
      'rpc_client_call_duration_seconds',
      'Time of a whole call made by this service, retries included, by rpc_method and code.',
      r,
      this.bounds,
      calls,
    );
    liveGauge(r, 'rpc_server_in_flight', 'Requests being handled now.', ['rpc_method'], () => map(served(), (s) => sample({ rpc_method: s.method }, s.inFlight)));
    liveGauge(r, 'rpc_client_in_flight', 'Calls made by this service waiting for an answer now.', ['rpc_method'], () =>
      map(calls(), (s) => sample({ rpc_method: s.method }, s.inFlight)),
    );
    liveCounter(r, 'rpc_client_retries_total', 'Attempts after the first one of a call (failbackup: backup requests too).', ['rpc_method'], () =>
      map(calls(), (s) => sample({ rpc_method: s.method }, s.retries)),
    );
    liveCounter(r, 'rpc_client_timeouts_total', 'Calls that ended with 408 (the deadline passed).', ['rpc_method'], () =>
      map(calls(), (s) => sample({ rpc_method: s.method }, s.timeouts)),
    );
    liveCounter(r, 'rpc_breaker_transitions_total', 'Circuit breaker state changes, by called service and new state.', ['rpc_service', 'to'], () =>
      flat(this.transitions.values(), (t) => map(t.to, ([to, n]) => sample({ rpc_service: t.service, to }, n))),
    );
    liveGauge(r, 'rpc_breakers', 'Circuit breakers (one per node and endpoint) in each state now, by called service.', ['rpc_service', 'state'], () =>
      this.breakerCounts(),
    );
    const byCode = (source: CappedLabels<CodeCounts>) => () =>
      flat(source.values(), (c) => map(c.entries(), ([code, n]) => sample({ topic: c.label, code: codeLabel(code) }, n)));
    liveCounter(r, 'broker_published_total', 'Events published by this service, by topic and code (200 = accepted by the broker).', ['topic', 'code'], byCode(this.publishes));
    liveCounter(r, 'broker_consumed_total', 'Events handled by this service\'s subscribers, by topic and code.', ['topic', 'code'], byCode(this.consumes));
  }

  private breakerCounts(): Sample[] {
    const snapshot = this.selector?.breakerStates?.() ?? [];
    const names = new CappedLabels(this.labelLimit, (service) => ({ service, states: new Map(BREAKER_STATES.map((s) => [s as string, 0])) }));
    for (const b of snapshot) {
      const { states } = names.get(b.service);
      states.set(b.state, (states.get(b.state) ?? 0) + 1);
    }
    return [...flat(names.values(), (n) => map(n.states, ([state, count]) => sample({ rpc_service: n.service, state }, count)))];
  }
}

type Sample = [Record<string, string>, number];
const sample = (labels: Record<string, string>, value: number): Sample => [labels, value];

function* map<T, U>(items: Iterable<T>, fn: (item: T) => U): IterableIterator<U> {
  for (const item of items) yield fn(item);
}

function* flat<T, U>(items: Iterable<T>, fn: (item: T) => Iterable<U>): IterableIterator<U> {
  for (const item of items) yield* fn(item);
}
