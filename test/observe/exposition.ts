import { request } from 'node:http';

/**
 * A small parser for the Prometheus text exposition format (version 0.0.4), and a scrape over real HTTP. Tests read
 * numbers through it, so what they assert is what Prometheus would see.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** `# TYPE` per metric family. */
  types: Map<string, string>;
  /** The one sample of `name` carrying exactly these labels (others ignored), or undefined; throws when several match. */
  get(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum over every sample of `name` carrying these labels (0 when none). */
  sum(name: string, labels?: Record<string, string>): number;
  /** Values of `label` across samples of `name`. */
  labelValues(name: string, label: string): string[];
}

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) types.set(m[1], m[2]);
      else if (!/^# HELP \S+/.test(line)) throw new Error(`line ${i + 1}: unexpected comment: ${line}`);
      continue;
    }
    samples.push(parseSample(line, i + 1));
  }
  const matching = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    types,
    get(name, labels) {
      const hits = matching(name, labels);
      if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
      return hits[0]?.value;
    },
    sum: (name, labels) => matching(name, labels).reduce((acc, s) => acc + s.value, 0),
    labelValues: (name, label) => [...new Set(matching(name).map((s) => s.labels[label]))].filter((v) => v !== undefined),
  };
}

function parseSample(line: string, lineNo: number): Sample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
  if (!name) throw new Error(`line ${lineNo}: no metric name: ${line}`);
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const key = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))?.[0];
      if (!key || line[i + key.length] !== '=' || line[i + key.length + 1] !== '"') throw new Error(`line ${lineNo}: bad label at ${i}: ${line}`);
      i += key.length + 2;
      let value = '';
      while (line[i] !== '"') {
        if (i >= line.length) throw new Error(`line ${lineNo}: unterminated label value: ${line}`);
        if (line[i] === '\\') {
          const next = line[i + 1];
          value += next === 'n' ? '\n' : next;
          i += 2;
        } else value += line[i++];
      }
      labels[key] = value;
      i++;
      if (line[i] === ',') i++;
    }
    i++;
  }
  const rest = line.slice(i).trim().split(/\s+/);
  // Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes `Nan`).
  const word = rest[0]?.toLowerCase();
  const value = word === '+inf' || word === 'inf' ? Infinity : word === '-inf' ? -Infinity : word === 'nan' ? NaN : Number(rest[0]);
  if (rest[0] === undefined || (Number.isNaN(value) && word !== 'nan')) throw new Error(`line ${lineNo}: bad value: ${line}`);
  return { name, labels, value };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request to 127.0.0.1; rejects after `ms`. */
export function httpGet(address: string, path: string, method = 'GET', ms = 5000): Promise<HttpAnswer> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, timeout: ms, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${address}${path} within ${ms} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET /metrics and parse it; fails on anything but a 200 in the Prometheus text format. */
export async function scrape(address: string): Promise<Exposition> {
  const got = await httpGet(address, '/metrics');
  if (got.status !== 200) throw new Error(`GET /metrics answered ${got.status}: ${got.body}`);
  if (!String(got.headers['content-type']).startsWith('text/plain; version=0.0.4')) throw new Error(`content-type ${got.headers['content-type']}`);
  return parseExposition(got.body);
}

function splitAddress(address: string): [string, number] {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`not host:port: ${address}`);
  return [m[1], Number(m[2])];
}
