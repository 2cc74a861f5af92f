#!/usr/bin/env node
'use strict';
/**
 * Governance benchmarks: `npm run bench:governance` (or `node bench/governance.cjs [--rounds=5] [--seconds=2]`).
 *
 *   local      in-process calls per second: Phobos' fast path (bench/phobos/local.ts) and Moleculer's local call
 *              (bench/moleculer-local.cjs), each in its own process, rounds interleaved; sequential and 64 in flight.
 *   failover   3 Phobos server processes and a client keeping 64 calls in flight with the failover fail mode
 *              (bench/phobos/failover.ts): steady, and with one server SIGKILLed half way through the run.
 *
 * Prints medians as a markdown block for bench/RESULTS.md. Selection cost has its own script (npm run bench:select).
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { median } = require('./stats.cjs');
const { root, start, sleep, waitFor, stop, runForJson } = require('./procs.cjs');

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '2' } } });
const ROUNDS = Math.max(1, Math.min(20, Number(args.rounds) || 5));
const SECONDS = Math.max(0.5, Math.min(30, Number(args.seconds) || 2));
const LIMIT = (3 * SECONDS + 30) * 1000;
const dist = (...p) => path.join(root, 'dist', 'bench', 'phobos', ...p);
const SERVER_FLAGS = ['--server_address=127.0.0.1:0', '--register_ttl=2s', '--register_interval=500ms'];
const env = { BENCH_SECONDS: String(SECONDS) };

async function servers(n) {
  const list = Array.from({ length: n }, () => start([dist('server.js'), ...SERVER_FLAGS], env));
  await Promise.all(list.map((s, i) => waitFor(s, () => /^READY\b/m.test(s.stdoutText), 30_000, `server ${i}`)));
  return list;
}

async function failover(kill) {
  const nodes = await servers(3);
  try {
    const client = start([dist('failover.js')], { ...env, BENCH_NODES: '3' });
    try {
      if (kill) {
        await waitFor(client, () => /RUNNING/.test(client.stderrTail), 60_000, 'failover client');
        await sleep((SECONDS * 1000) / 2);
        nodes[1].kill('SIGKILL');
      }
      await waitFor(client, () => client.exitCode !== null, LIMIT, 'failover client');
      if (client.exitCode !== 0) throw new Error(`failover client exited ${client.exitCode}\n${client.stderrTail}`);
      return JSON.parse(client.stdoutText.trim().split('\n').pop());
    } finally {
      await stop(client);
    }
  } finally {
    await Promise.all(nodes.map(stop));
    // A SIGKILLed node's registry entry lives until its TTL (2 s): let it expire before the next round.
    if (kill) await sleep(2500);
  }
}

async function main() {
  if (!fs.existsSync(path.join(__dirname, 'node_modules'))) {
    console.error('bench: installing peer dependencies (npm ci --prefix bench)...');
    execFileSync('npm', ['ci', '--prefix', __dirname, '--no-audit', '--no-fund'], { stdio: ['ignore', 2, 2] });
  }
  // The waits poll on unref'd timers; this keeps the runner alive between children.
  const keepAlive = setInterval(() => undefined, 60_000);
  const results = { phobosLocal: [], phobosLocalNoAls: [], moleculerLocal: [], steady: [], killed: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const pair = [
      ['phobosLocal', () => runForJson([dist('local.js')], env, LIMIT, 'phobos local')],
      ['moleculerLocal', () => runForJson([path.join(__dirname, 'moleculer-local.cjs')], env, LIMIT, 'moleculer local')],
      ['phobosLocalNoAls', () => runForJson([dist('local.js')], { ...env, BENCH_PROPAGATE: '0' }, LIMIT, 'phobos local, propagation off')],
    ];
    if (round % 2 === 0) pair.reverse();
    for (const [key, run] of pair) results[key].push(await run());
    results.steady.push(await failover(false));
    results.killed.push(await failover(true));
    console.error(`round ${round}/${ROUNDS} done`);
  }
  const m = (list, key) => median(list.map((r) => r[key]));
  const k = (n) => `${Math.round(n / 1000)}k`;
  const lines = [
    `Command: \`npm run bench:governance\` (${ROUNDS} rounds × ${SECONDS} s, medians). Node ${process.version}, ${require('node:os').cpus().length} cores.`,
    '',
    '| in-process calls/s | Phobos fast path (default) | Phobos, `propagateContext: false` | Moleculer local call | ratios to Moleculer |',
    '|---|--:|--:|--:|--:|',
    ...['seq', 'c64'].map((key) => {
      const [p, q, mol] = [m(results.phobosLocal, key), m(results.phobosLocalNoAls, key), m(results.moleculerLocal, key)];
      return `| ${key === 'seq' ? 'sequential' : '64 in flight'} | ${k(p)} | ${k(q)} | ${k(mol)} | ${(p / mol).toFixed(2)}× / ${(q / mol).toFixed(2)}× |`;
    }),
    '',
    '| 3 nodes, 64 in flight, failover | req/s | p50 (µs) | p99 (µs) | failed calls |',
    '|---|--:|--:|--:|--:|',
    `| steady | ${k(m(results.steady, 'rps'))} | ${Math.round(m(results.steady, 'p50') * 1000)} | ${Math.round(m(results.steady, 'p99') * 1000)} | ${results.steady.map((r) => r.failed).join(', ')} |`,
    `| one node SIGKILLed mid-run | ${k(m(results.killed, 'rps'))} | ${Math.round(m(results.killed, 'p50') * 1000)} | ${Math.round(m(results.killed, 'p99') * 1000)} | ${results.killed.map((r) => r.failed).join(', ')} |`,
    '',
    'Every round:',
    '```',
    JSON.stringify(results),
    '```',
  ];
  console.log(lines.join('\n'));
  clearInterval(keepAlive);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
