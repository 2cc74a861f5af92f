import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { codeLabel, type MethodSeries } from './series';

/**
 * Bridges series.ts to a prom-client Registry. Nothing here runs per call: counters and gauges are real prom-client
 * metrics whose `collect` (run by the Registry at scrape time) copies the current numbers in; histograms are a
 * prom-client Histogram whose `get` reports the Timings directly, since prom-client offers no way to load bucket
 * counts into its own.
 */

type Labels = Record<string, string>;

/** A histogram exported from MethodSeries: labels `rpc_method` and `code`. */
export class SeriesHistogram extends Histogram<string> {
  constructor(
    private readonly metricName: string,
    private readonly metricHelp: string,
    registry: Registry,
    private readonly bounds: readonly number[],
    private readonly source: () => Iterable<MethodSeries>,
  ) {
    super({ name: metricName, help: metricHelp, labelNames: ['rpc_method', 'code'], buckets: [...bounds], registers: [registry] });
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<string>['get']>>> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    const name = this.metricName;
    const bucket = `${name}_bucket`;
    for (const series of this.source()) {
      for (const [code, t] of series.timings()) {
        const labels: Labels = { rpc_method: series.method, code: codeLabel(code) };
        let cumulative = 0;
        for (let i = 0; i < this.bounds.length; i++) {
          cumulative += t.counts[i];
          values.push({ labels: { ...labels, le: this.bounds[i] }, value: cumulative, metricName: bucket });
        }
        values.push({ labels: { ...labels, le: '+Inf' }, value: t.count, metricName: bucket });
        values.push({ labels, value: t.sum, metricName: `${name}_sum` });
        values.push({ labels, value: t.count, metricName: `${name}_count` });
      }
    }
    return { name, help: this.metricHelp, type: 'histogram' as never, aggregator: 'sum', collect: undefined as never, values };
  }

  /** The Registry asks this one when it renders text; the shape `get` returns renders the same. */
  getForPromString(): ReturnType<SeriesHistogram['get']> {
    return this.get();
  }
}

/** A gauge set from `read` at scrape time: one sample per label set it yields. */
export function liveGauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): Gauge<string> {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Gauge<string>) {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** A counter whose totals are read at scrape time; `read` yields the running total of every label set. */
export function liveCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): Counter<string> {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter<string>) {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}
