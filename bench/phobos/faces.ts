import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { bareGrpc, bareHttp, gatewayLocal, gatewayRemote, grpcFace, phobosOver, type Target } from './faces-servers';
import { median } from './stats';

/**
 * What the faces cost against bare node:http and bare grpc-js: `npm run bench:faces` (options: --rounds=3
 * --seconds=3 --only=row,row). The server under test runs in this process and the load generator (faces-load.ts) in a
 * child, 64 calls in flight, the same `{ data: 'hello, phobos' }` echo everywhere. Rows run interleaved, a fresh
 * server and load generator each time; medians are printed as markdown, then every round as JSON.
 */

interface Row {
  key: string;
  table: 'http' | 'grpc';
  label: string;
  start(name: string): Promise<Target>;
}

const ROWS: Row[] = [
  { key: 'http', table: 'http', label: 'node:http JSON echo (baseline)', start: () => bareHttp() },
  { key: 'gateway-local', table: 'http', label: 'gateway, service in the same process (in-process fast path)', start: gatewayLocal },
  { key: 'gateway-tcp', table: 'http', label: 'gateway → tcp → service in another process', start: gatewayRemote },
  { key: 'grpc', table: 'grpc', label: 'grpc-js unary echo from faces.proto (baseline)', start: () => bareGrpc() },
  { key: 'face', table: 'grpc', label: 'Phobos gRPC face, same .proto', start: grpcFace },
  { key: 'phobos-grpc', table: 'grpc', label: 'Phobos client → `--transport=grpc` → Phobos service', start: (n) => phobosOver(n, 'grpc') },
  { key: 'phobos-tcp', table: 'grpc', label: 'Phobos client → `--transport=tcp` → Phobos service', start: (n) => phobosOver(n, 'tcp') },
];

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  lastError?: string;
}

function arg(name: string, fallback: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
}

const ROUNDS = Number(arg('rounds', process.env.BENCH_ROUNDS ?? '3'));
const SECONDS = Number(arg('seconds', process.env.BENCH_SECONDS ?? '3'));
const ONLY = arg('only', '').split(',').filter(Boolean);

/** Runs the load generator against `target` and returns its JSON line. */
function load(target: Target): Promise<Sample> {
  // The runner's node flags go along: `node --cpu-prof faces.js` profiles the load generator too.
  const child = spawn(process.execPath, [...process.execArgv, join(__dirname, 'faces-load.js'), ...target.load], {
    env: { ...process.env, BENCH_SECONDS: String(SECONDS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 60) * 1000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`load generator ${target.load.join(' ')} exited ${code ?? signal}\n${err}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Sample);
    });
  });
}

const k = (n: number) => `${(n / 1000).toFixed(1)}k`;
const ms = (n: number) => n.toFixed(2);

function table(rows: Row[], results: Map<string, Sample[]>): string {
  const base = median(results.get(rows[0].key)!.map((s) => s.rps));
  const lines = ['| 64 in flight | req/s | p50 (ms) | p99 (ms) | req/s ÷ baseline |', '|---|--:|--:|--:|--:|'];
  for (const row of rows) {
    const rs = results.get(row.key)!;
    const rps = median(rs.map((s) => s.rps));
    lines.push(`| ${row.label} | ${k(rps)} | ${ms(median(rs.map((s) => s.p50)))} | ${ms(median(rs.map((s) => s.p99)))} | ${(rps / base).toFixed(2)}× |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const rows = ROWS.filter((r) => ONLY.length === 0 || ONLY.includes(r.key));
  const results = new Map<string, Sample[]>(rows.map((r) => [r.key, []]));
  const loadBefore = loadavg();
  const t0 = Date.now();
  let n = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const row of rows) {
      const target = await row.start(`faces-${process.pid}-${++n}`);
      try {
        const sample = await load(target);
        if (sample.errors > 0) process.stderr.write(`  ${row.key}: ${sample.errors} failed calls, last: ${sample.lastError}\n`);
        results.get(row.key)!.push(sample);
      } finally {
        await target.close();
      }
    }
    process.stderr.write(`round ${round}/${ROUNDS} done\n`);
  }
  const loadAfter = loadavg();
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  console.log(`Command: \`npm run bench:faces\` (${ROUNDS} rounds × ${SECONDS} s per row, interleaved, medians). Node ${process.version}, ` +
    `${cpus().length} cores; took ${Math.round((Date.now() - t0) / 1000)} s; load average ${la(loadBefore)} at start, ${la(loadAfter)} at the end.\n`);
  for (const t of ['http', 'grpc'] as const) {
    const group = rows.filter((r) => r.table === t);
    if (group.length) console.log(`${table(group, results)}\n`);
  }
  const g = results.get('phobos-grpc');
  const tcp = results.get('phobos-tcp');
  if (g && tcp) console.log(`\`--transport=grpc\` ÷ \`--transport=tcp\`: ${(median(g.map((s) => s.rps)) / median(tcp.map((s) => s.rps))).toFixed(2)}× the calls/s.\n`);
  const rounds = Object.fromEntries([...results].map(([key, ss]) => [key, ss.map((s) => ({ rps: Math.round(s.rps), p50: +ms(s.p50), p99: +ms(s.p99), errors: s.errors }))]));
  console.log(`Every round:\n\`\`\`\n${JSON.stringify(rounds)}\n\`\`\``);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
