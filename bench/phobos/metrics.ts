import { execFileSync, spawn } from 'node:child_process';
import { createService, type PhobosService } from '../../lib';
import { Bench } from './bench';

/**
 * What metrics cost: `npm run bench:metrics` (options --rounds=5 --seconds=3).
 *
 * One case = one fresh child process holding two services, a caller and the `bench` echo server, talking over tcp on
 * 127.0.0.1 (memory registry), with 64 calls in flight for `seconds` after a warm-up. In the `on` case both services
 * have metrics on and /metrics served (--metrics_address=127.0.0.1:0): the server wrapper, the client observer and
 * the process defaults all run, on both ends of every call and in the same process, which is the worst case for the
 * ratio. The parent runs `off` and `on` alternately (the order flips every round) and prints medians as markdown.
 * The `on` case also checks that the server counted every call it answered.
 */

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.slice(name.length + 3)) : fallback;
};
const ROUNDS = arg('rounds', 5);
const SECONDS = arg('seconds', 3);
const IN_FLIGHT = 64;

interface Result {
  rps: number;
  p50: number;
  p99: number;
  calls: number;
  /** CPU time (user + system) of the process per call, in µs: steadier than calls/s on a shared machine. */
  cpu: number;
  counted?: number;
}

async function measure(on: boolean): Promise<Result> {
  const common = { registry: 'memory', broker: 'memory', transport: 'tcp', env: {}, logLevel: 'silent' as const, plugins: { memory: { namespace: 'bench-metrics' } } };
  const argv = on ? ['--metrics_address=127.0.0.1:0'] : [];
  const server = createService({ ...common, name: 'bench', argv });
  server.handle(new Bench());
  const caller = createService({ ...common, name: 'bench-caller', argv });
  await server.start();
  await caller.start();
  try {
    const bench = caller.client.service<Bench>('bench');
    const payload = { data: 'hello, phobos' };
    const warmEnd = performance.now() + 1000;
    const warm = async () => {
      while (performance.now() < warmEnd) await bench.echo(payload);
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, warm));
    const before = on ? await served(server) : 0;
    const latencies: number[] = [];
    const end = performance.now() + SECONDS * 1000;
    const worker = async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await bench.echo(payload);
        latencies.push(performance.now() - t);
      }
    };
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const cpu = process.cpuUsage(cpu0);
    const elapsed = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
    const result: Result = { rps: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99), calls: latencies.length, cpu: (cpu.user + cpu.system) / latencies.length };
    if (on) result.counted = (await served(server)) - before;
    return result;
  } finally {
    await caller.stop();
    await server.stop();
  }
}

/** The server's count of answered echo calls, read from its /metrics over HTTP as Prometheus would. */
async function served(service: PhobosService): Promise<number> {
  const res = await fetch(`http://${service.metricsAddress}/metrics`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith('rpc_server_call_duration_seconds_count{rpc_method="bench/echo",code="200"}'));
  return line ? Number(line.split(' ').pop()) : 0;
}

function runCase(which: 'on' | 'off'): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, `--case=${which}`, `--seconds=${SECONDS}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 30) * 1000);
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`case ${which} exited with ${code}: ${out}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Result);
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function parent(): Promise<void> {
  const results: Record<'on' | 'off', Result[]> = { on: [], off: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: ('on' | 'off')[] = round % 2 ? ['on', 'off'] : ['off', 'on'];
    for (const which of order) {
      const r = await runCase(which);
      results[which].push(r);
      console.error(`round ${round + 1} ${which}: ${Math.round(r.rps)} calls/s, ${r.cpu.toFixed(2)} µs CPU/call${r.counted !== undefined ? `, counted ${r.counted}/${r.calls}` : ''}`);
      if (r.counted !== undefined && r.counted < r.calls) throw new Error(`metrics counted ${r.counted} of ${r.calls} calls`);
    }
  }
  const off = median(results.off.map((r) => r.rps));
  const on = median(results.on.map((r) => r.rps));
  const cpuOff = median(results.off.map((r) => r.cpu));
  const cpuOn = median(results.on.map((r) => r.cpu));
  const rows = (['off', 'on'] as const).map((w) => {
    const rs = results[w];
    const [rps, p50, p99, cpu] = [median(rs.map((r) => r.rps)), median(rs.map((r) => r.p50)), median(rs.map((r) => r.p99)), median(rs.map((r) => r.cpu))];
    const every = rs.map((r) => `${Math.round(r.rps / 1000)}k/${r.cpu.toFixed(2)}`).join(', ');
    return `| ${w} | ${Math.round(rps).toLocaleString('en-US')} | ${cpu.toFixed(2)} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${every} |`;
  });
  const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
  console.log(`Command: \`npm run bench:metrics\` (${ROUNDS} rounds x ${SECONDS} s, ${IN_FLIGHT} in flight, medians). Node ${process.version}, load average at the end ${load}.\n`);
  console.log('| metrics | calls/s | CPU µs per call | p50 (ms) | p99 (ms) | every round (calls/s / CPU µs) |');
  console.log('|---|--:|--:|--:|--:|---|');
  for (const row of rows) console.log(row);
  console.log(`\nthroughput on / off: ${(on / off).toFixed(3)} (cost ${((1 - on / off) * 100).toFixed(1)}%; target: at most 10%)`);
  console.log(`CPU per call on / off: ${(cpuOn / cpuOff).toFixed(3)} (cost ${((cpuOn / cpuOff - 1) * 100).toFixed(1)}%)`);
}

const which = process.argv.find((a) => a.startsWith('--case='))?.slice(7);
(which === 'on' || which === 'off' ? measure(which === 'on').then((r) => console.log(JSON.stringify(r))) : parent()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
