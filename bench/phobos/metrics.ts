import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { createService, type PhobosService } from '../../lib';
import { Bench } from './bench';
import { closedLoop, median } from './stats';

/**
 * What metrics cost: `npm run bench:metrics` (options --rounds=5 --seconds=3 --layout=processes|one-process|both).
 *
 * A case is the 64-in-flight echo load over tcp on 127.0.0.1, metrics `off` or `on` (--metrics_address on both
 * services: the server wrapper, the client observer and prom-client's process metrics all run, /metrics is served and
 * scraped before and after the timed window, and the server must have counted every call).
 *   processes    the layout of the core bench (bench/RESULTS.md, "64-in-flight"): the echo server and the caller in
 *                two fresh processes; the caller finds the server through its memory registry.
 *   one-process  both services in one fresh process: each call pays server and client metrics on one CPU, the
 *                worst case for the ratio.
 * Every case is a fresh set of processes; off and on alternate, the order flipping every round; medians are printed
 * as markdown. CPU per call (user + system of every process of the case) is steadier than calls/s on a shared box.
 */

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const ROUNDS = Number(arg('rounds', '5'));
const SECONDS = Number(arg('seconds', '3'));
const IN_FLIGHT = 64;
type Layout = 'processes' | 'one-process';

interface Result {
  rps: number;
  p50: number;
  p99: number;
  calls: number;
  /** µs of CPU (user + system, all processes of the case) per call. */
  cpu: number;
  counted?: number;
}

const BASE = { registry: 'memory', broker: 'memory', transport: 'tcp', env: {}, logLevel: 'silent' as const, plugins: { memory: { namespace: 'bench-metrics' } } };
const flags = (on: boolean) => (on ? ['--metrics_address=127.0.0.1:0'] : []);

/** The echo server process: prints READY <address> <metrics address or -> <pid>, serves until SIGTERM. */
async function serverRole(on: boolean): Promise<void> {
  const server = createService({ ...BASE, name: 'bench', argv: flags(on) });
  server.handle(new Bench());
  await server.start();
  console.log(`READY ${server.address} ${server.metricsAddress ?? '-'} ${process.pid}`);
  process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
}

/** The caller: 64 calls in flight for SECONDS against `bench`, after a 1 s warm-up. */
async function load(caller: PhobosService, serverMetrics: string | undefined, serverPid: number | undefined): Promise<Result> {
  const bench = caller.client.service<Bench>('bench');
  const payload = { data: 'hello, phobos' };
  const warmEnd = performance.now() + 1000;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (performance.now() < warmEnd) await bench.echo(payload);
  }));
  const before = serverMetrics ? await served(serverMetrics) : 0;
  const cpu0 = process.cpuUsage();
  const other0 = serverPid ? cpuOf(serverPid) : 0;
  const { latencies, elapsed } = await closedLoop(IN_FLIGHT, SECONDS, () => bench.echo(payload));
  const own = process.cpuUsage(cpu0);
  const other = serverPid ? cpuOf(serverPid) - other0 : 0;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const calls = latencies.length;
  const result: Result = { rps: calls / elapsed, p50: pct(0.5), p99: pct(0.99), calls, cpu: (own.user + own.system + other) / calls };
  if (serverMetrics) result.counted = (await served(serverMetrics)) - before;
  return result;
}

async function clientRole(on: boolean, address: string, serverMetrics: string | undefined, serverPid: number): Promise<Result> {
  const caller = createService({ ...BASE, name: 'bench-caller', argv: flags(on) });
  await caller.registry.register({ name: 'bench', version: '1.0.0', metadata: {}, endpoints: [], nodes: [{ id: 'bench-1', address, metadata: {} }] });
  await caller.start();
  try {
    return await load(caller, serverMetrics, serverPid);
  } finally {
    await caller.stop();
  }
}

async function oneProcessRole(on: boolean): Promise<Result> {
  const server = createService({ ...BASE, name: 'bench', argv: flags(on) });
  server.handle(new Bench());
  const caller = createService({ ...BASE, name: 'bench-caller', argv: flags(on) });
  await server.start();
  await caller.start();
  try {
    return await load(caller, server.metricsAddress, undefined);
  } finally {
    await caller.stop();
    await server.stop();
  }
}

/** µs of CPU a process has used so far (/proc, in clock ticks of 10 ms). */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * The server's count of answered echo calls, from its /metrics over HTTP as Prometheus would read it. node:http, not
 * fetch: loading undici into the caller made every later call about 0.9 µs dearer (measured), a cost of the bench.
 */
function served(address: string): Promise<number> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = get({ host, port: Number(port), path: '/metrics', agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const line = text.split('\n').find((l) => l.startsWith('rpc_server_call_duration_seconds_count{rpc_method="bench/echo",code="200"}'));
        resolve(line ? Number(line.split(' ').pop()) : 0);
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer from /metrics')));
    req.on('error', reject);
  });
}

// ---- the parent: fresh processes per case ------------------------------------------------------------------------

const live = new Set<ChildProcess>();
process.on('exit', () => live.forEach((c) => c.kill('SIGKILL')));

function child(args: string[]): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [__filename, ...args, `--seconds=${SECONDS}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  live.add(proc);
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => (live.delete(proc), resolve(code))));
  return { proc, out: () => out, exited };
}

async function runCase(layout: Layout, which: 'on' | 'off'): Promise<Result> {
  const deadline = Date.now() + (SECONDS + 30) * 1000;
  let server: ReturnType<typeof child> | undefined;
  const args = [`--metrics=${which}`];
  if (layout === 'processes') {
    server = child(['--role=server', ...args]);
    while (!/^READY /m.test(server.out())) {
      if (Date.now() > deadline || server.proc.exitCode !== null) throw new Error(`the server did not start: ${server.out()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const [, address, metrics, pid] = /^READY (\S+) (\S+) (\d+)/m.exec(server.out())!;
    args.push('--role=client', `--address=${address}`, `--server-metrics=${metrics}`, `--server-pid=${pid}`);
  } else args.push('--role=one-process');
  const client = child(args);
  const timer = setTimeout(() => client.proc.kill('SIGKILL'), deadline - Date.now());
  try {
    const code = await client.exited;
    if (code !== 0) throw new Error(`the ${which} case exited with ${code}: ${client.out()}`);
    return JSON.parse(client.out().trim().split('\n').pop()!) as Result;
  } finally {
    clearTimeout(timer);
    server?.proc.kill('SIGTERM');
    await server?.exited;
  }
}


async function measureLayout(layout: Layout): Promise<void> {
  const results: Record<'on' | 'off', Result[]> = { on: [], off: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const which of round % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      const r = await runCase(layout, which);
      results[which].push(r);
      console.error(`${layout} round ${round + 1} ${which}: ${Math.round(r.rps)} calls/s, ${r.cpu.toFixed(2)} µs CPU/call${r.counted !== undefined ? `, counted ${r.counted}/${r.calls}` : ''}`);
      if (r.counted !== undefined && r.counted < r.calls) throw new Error(`the server counted ${r.counted} of ${r.calls} calls`);
    }
  }
  const m = (w: 'on' | 'off', k: keyof Result) => median(results[w].map((r) => r[k] as number));
  console.log(`\n${layout === 'processes' ? 'Server and caller in two processes (the core bench layout)' : 'Server and caller in one process (worst case)'}:\n`);
  console.log('| metrics | calls/s | CPU µs per call | p50 (ms) | p99 (ms) | every round (calls/s, CPU µs) |');
  console.log('|---|--:|--:|--:|--:|---|');
  for (const w of ['off', 'on'] as const) {
    const every = results[w].map((r) => `${Math.round(r.rps / 1000)}k ${r.cpu.toFixed(2)}`).join(', ');
    console.log(`| ${w} | ${Math.round(m(w, 'rps')).toLocaleString('en-US')} | ${m(w, 'cpu').toFixed(2)} | ${m(w, 'p50').toFixed(2)} | ${m(w, 'p99').toFixed(2)} | ${every} |`);
  }
  const ratio = m('on', 'rps') / m('off', 'rps');
  console.log(`\nthroughput on/off ${ratio.toFixed(3)} (cost ${((1 - ratio) * 100).toFixed(1)}%, target at most 10%); CPU per call on/off ${(m('on', 'cpu') / m('off', 'cpu')).toFixed(3)}`);
}

async function parent(): Promise<void> {
  const layout = arg('layout', 'both');
  const layouts: Layout[] = layout === 'both' ? ['processes', 'one-process'] : [layout as Layout];
  console.log(`Command: \`npm run bench:metrics\` (${ROUNDS} rounds x ${SECONDS} s, ${IN_FLIGHT} in flight, medians). Node ${process.version}, nproc ${execFileSync('nproc').toString().trim()}.`);
  for (const l of layouts) await measureLayout(l);
  console.log(`\nLoad average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}

const role = arg('role', '');
const on = arg('metrics', 'off') === 'on';
const main =
  role === 'server'
    ? serverRole(on)
    : role === 'client'
      ? clientRole(on, arg('address', ''), arg('server-metrics', '-') === '-' ? undefined : arg('server-metrics', ''), Number(arg('server-pid', '0'))).then((r) => console.log(JSON.stringify(r)))
      : role === 'one-process'
        ? oneProcessRole(on).then((r) => console.log(JSON.stringify(r)))
        : parent();
main.catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
