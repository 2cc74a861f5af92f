import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC_NAMES } from '../../lib/observe/metrics';
import { testService, stopAll } from '../helpers/services';

/**
 * The Grafana dashboard may only query metrics the code registers: every PromQL expression (panels and template
 * variables) is reduced to the metric names it reads, and each must be one a real service's Registry exposes.
 */

const DASHBOARD = join(__dirname, '..', '..', 'examples', 'grafana', 'phobos-dashboard.json');

afterAll(stopAll);

/** Functions, aggregations and keywords of PromQL that may appear as bare words in an expression. */
const PROMQL_WORDS = new Set([
  'sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'histogram_quantile', 'label_values', 'clamp_min', 'clamp_max', 'abs',
]);

/** The metric names an expression reads: strings, label matchers, ranges, groupings and numbers removed first. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    // Grafana's label_values(metric, label): the second argument is a label, not a metric.
    .replace(/\blabel_values\(([^,)]*),\s*[a-zA-Z_]\w*\s*\)/g, 'label_values($1)')
    .replace(/\b\d+(\.\d+)?\b/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const followedByParen = /^\s*\(/.test(stripped.slice(m.index! + word.length));
    if (PROMQL_WORDS.has(word) || followedByParen) {
      if (!PROMQL_WORDS.has(word)) throw new Error(`unknown PromQL function ${word} in ${expr}`);
      continue;
    }
    names.push(word);
  }
  return names;
}

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  datasource?: { uid: string };
}

test('every dashboard expression reads only metrics a service registers, and every Phobos metric has a panel', async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Panel[];
    templating: { list: { name: string; type: string; query: string | { query: string } }[] };
    __inputs: { type: string; pluginId: string }[];
  };
  // Import asks for a Prometheus data source, and every panel uses it.
  expect(dashboard.__inputs).toEqual([expect.objectContaining({ type: 'datasource', pluginId: 'prometheus' })]);

  const service = testService({ name: 'dash', metrics: true });
  const registered = new Set<string>();
  for (const m of await service.metrics!.getMetricsAsJSON()) {
    registered.add(m.name);
    if ((m.type as unknown as string) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) registered.add(m.name + s);
  }
  const exprs: string[] = [];
  for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
    expect([p.title, p.datasource?.uid]).toEqual([p.title, '${datasource}']);
    expect(p.targets?.length).toBeGreaterThan(0);
    for (const t of p.targets!) exprs.push(t.expr);
  }
  for (const v of dashboard.templating.list.filter((v) => v.type === 'query')) {
    exprs.push(typeof v.query === 'string' ? v.query : v.query.query);
  }
  const used = new Set<string>();
  for (const expr of exprs) {
    const names = metricNames(expr);
    expect([expr, names.length > 0]).toEqual([expr, true]);
    for (const name of names) {
      expect([expr, name, registered.has(name)]).toEqual([expr, name, true]);
      used.add(name);
    }
  }
  // Every Phobos metric is on the dashboard (a histogram through any of its series).
  for (const name of METRIC_NAMES) {
    expect([name, [...used].some((u) => u === name || u.startsWith(`${name}_`))]).toEqual([name, true]);
  }
  // And the panels the README promises are there.
  const titles = dashboard.panels.map((p) => p.title);
  for (const t of ['Request rate by method', 'Errors by code', 'Latency p50 / p90 / p99', 'In flight', 'Retries and timeouts', 'Breaker transitions', 'Published by topic', 'Consumed by topic', 'CPU', 'Memory']) {
    expect(titles).toContain(t);
  }
});

test('the expression reader finds metric names and nothing else', () => {
  expect(metricNames('histogram_quantile(0.99, sum by (le, rpc_method) (rate(rpc_server_call_duration_seconds_bucket{job=~"$job", code!="200"}[$__rate_interval])))')).toEqual([
    'rpc_server_call_duration_seconds_bucket',
  ]);
  expect(metricNames('sum(rate(a_total[5m])) / sum(rate(b_total[5m]))')).toEqual(['a_total', 'b_total']);
  expect(metricNames('label_values(process_start_time_seconds{job=~"$job"}, instance)')).toEqual(['process_start_time_seconds']);
  expect(() => metricNames('made_up_fn(x)')).toThrow(/unknown PromQL function/);
});
