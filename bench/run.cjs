#!/usr/bin/env node
'use strict';
/**
 * Benchmark runner: `npm run bench` (or `node bench/run.cjs [--rounds=5] [--seconds=2] [--only=raw,phobos]`).
 *
 * For every round and every contender it starts the echo server and then the client as two child processes on
 * 127.0.0.1, waits for the server's READY line, reads the client's JSON result from stdout and stops both. Rounds are
 * interleaved (raw, phobos, moleculer, nestjs, raw, ...) so that drift on the machine hits everyone alike. It prints
 * the medians and, on a full run, writes bench/RESULTS.md. Every child is killed on the way out, even on failure.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { median } = require('./stats.cjs');
const { start, waitFor, stop } = require('./procs.cjs');

const root = path.resolve(__dirname, '..');
const bench = __dirname;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS || '5' },
    seconds: { type: 'string', default: process.env.BENCH_SECONDS || '2' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const ROUNDS = Math.max(1, Math.min(20, Number(args.rounds) || 5));
const SECONDS = Math.max(0.5, Math.min(30, Number(args.seconds) || 2));
const READY_TIMEOUT = 30_000;
// Warm-up (≤ 2.5 s) + three scenarios + connect/discovery, with a generous margin; past it the client is killed.
const CLIENT_TIMEOUT = (2.5 + 3 * SECONDS) * 1000 + 30_000;

/** Phobos runs on its defaults (tcp transport, msgpack codec); only the listen address is pinned to loopback. */
const PHOBOS_FLAGS = ['--server_address=127.0.0.1:0'];

const CONTENDERS = {
  raw: { server: [path.join(bench, 'raw-server.cjs')] },
  phobos: {
    server: [path.join(root, 'dist', 'bench', 'phobos', 'server.js'), ...PHOBOS_FLAGS],
    clientArgs: PHOBOS_FLAGS,
  },
  moleculer: { server: [path.join(bench, 'moleculer-server.cjs')] },
  nestjs: { server: [path.join(bench, 'nest-server.cjs')] },
};
const names = args.only ? args.only.split(',').map((s) => s.trim()) : Object.keys(CONTENDERS);
for (const n of names) if (!CONTENDERS[n]) fail(`unknown contender '${n}'; one of ${Object.keys(CONTENDERS)}`);
let loadAtStart = [];
/** RESULTS.md from this line on belongs to the other bench scripts and survives a rewrite. */
const KEEP_MARKER = '<!-- other benches: kept by run.cjs -->';
const outFile = args.out ? path.resolve(args.out) : args.only ? null : path.join(bench, 'RESULTS.md');

// ---- child processes -------------------------------------------------------------------------------------------

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(1);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function runOnce(name) {
  const spec = CONTENDERS[name];
  const env = { BENCH_CONTENDER: name, BENCH_PORT: String(await freePort()), BENCH_SECONDS: String(SECONDS) };
  const server = start(spec.server, env);
  let client;
  try {
    await waitFor(server, () => /^READY\b/m.test(server.stdoutText), READY_TIMEOUT, `${name} server`);
    client = start([path.join(bench, 'client.cjs'), ...(spec.clientArgs || [])], env);
    await waitFor(client, () => client.exitCode !== null, CLIENT_TIMEOUT, `${name} client`);
    if (client.exitCode !== 0) throw new Error(`${name} client exited ${client.exitCode}\n${client.stderrTail.trim()}`);
    const line = client.stdoutText.trim().split('\n').pop();
    return JSON.parse(line);
  } finally {
    await Promise.all([client && stop(client), stop(server)]);
  }
}

// ---- report ----------------------------------------------------------------------------------------------------

const METRICS = [
  { key: 'seq.p50', label: 'seq p50 (µs)', scale: 1000, digits: 0, lowerIsBetter: true },
  { key: 'seq.p99', label: 'seq p99 (µs)', scale: 1000, digits: 0, lowerIsBetter: true },
  { key: 'seq.rps', label: 'seq req/s', scale: 1, digits: 0 },
  { key: 'c64.rps', label: '64-in-flight req/s', scale: 1, digits: 0 },
  { key: 'c64.p99', label: '64-in-flight p99 (ms)', scale: 1, digits: 2, lowerIsBetter: true },
  { key: 'big.mbps', label: '16 KiB MB/s', scale: 1, digits: 1 },
];
const get = (result, key) => key.split('.').reduce((o, k) => (o == null ? undefined : o[k]), result);
const fmt = (x, digits = 0) =>
  Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i ? ' ---: ' : ' --- ')).join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

function medians(results) {
  const m = {};
  for (const name of names) {
    m[name] = {};
    for (const { key } of METRICS) m[name][key] = median(results[name].map((r) => get(r, key)));
  }
  return m;
}

function targets(m) {
  const p = m.phobos;
  const r = m.raw;
  if (!p || !r) return [];
  const check = (label, value, goal, cmp) => ({
    label,
    value,
    goal,
    met: Number.isFinite(value) && (cmp === '>=' ? value >= goal : value <= goal),
  });
  return [
    check('64-in-flight req/s ≥ 0.5× raw', p['c64.rps'] / r['c64.rps'], 0.5, '>='),
    check('sequential p50 ≤ 1.3× raw', p['seq.p50'] / r['seq.p50'], 1.3, '<='),
    check('16 KiB MB/s ≥ 0.7× raw', p['big.mbps'] / r['big.mbps'], 0.7, '>='),
  ];
}

/** The commit the numbers belong to: HEAD and the last commit that touched lib/ or plugins/, flagged when dirty. */
function gitDescribe() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = git('status', '--porcelain', '--', 'lib', 'plugins') ? ' + uncommitted changes in lib/ or plugins/' : '';
    const lib = git('log', '-1', '--format=%h %s', '--', 'lib', 'plugins').slice(0, 100);
    return `HEAD ${git('rev-parse', '--short', 'HEAD')}; lib/ and plugins/ last changed in ${lib}${dirty}`;
  } catch {
    return 'unknown commit';
  }
}

function versionOf(pkg, dir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

function report(results, errors, started) {
  const m = medians(results);
  const out = [];
  out.push(
    table(
      ['contender', ...METRICS.map((x) => x.label), 'rounds ok'],
      names.map((n) => [n, ...METRICS.map((x) => fmt(m[n][x.key] * x.scale, x.digits)), `${results[n].length}/${ROUNDS}`]),
    ),
  );
  const peers = ['raw', 'moleculer', 'nestjs'].filter((n) => n in m && 'phobos' in m);
  if (peers.length) {
    out.push(
      '',
      'Ratios phobos/peer (for latencies below 1 is better, for throughput above 1 is better):',
      '',
      table(
        ['ratio', ...METRICS.map((x) => x.label)],
        peers.map((n) => [`phobos/${n}`, ...METRICS.map((x) => fmt(m.phobos[x.key] / m[n][x.key], 2))]),
      ),
    );
  }
  const goals = targets(m);
  if (goals.length) {
    out.push('', 'Targets:', '');
    for (const g of goals) out.push(`- ${g.label}: ${fmt(g.value, 2)}× — **${g.met ? 'met' : 'missed'}**`);
  }
  if (errors.length) {
    out.push('', 'Failures:', '');
    for (const e of errors) out.push(`- round ${e.round} ${e.name}: ${e.message.split('\n')[0]}`);
  }
  const text = out.join('\n');
  console.log(`\n${text}\n`);
  if (!outFile) return;

  const cpus = os.cpus();
  const argv = process.argv.slice(2).join(' ');
  const command =
    process.env.npm_lifecycle_event === 'bench' ? `npm run bench${argv ? ` -- ${argv}` : ''}` : `node bench/run.cjs ${argv}`.trim();
  const md = [
    '# Phobos benchmark results',
    '',
    'Generated by `bench/run.cjs`; do not edit by hand. Methodology: [bench/README.md](README.md).',
    '',
    `- Command: \`${command}\` (${ROUNDS} rounds, ${SECONDS} s per scenario, medians shown)`,
    `- Machine: nproc ${execFileSync('nproc').toString().trim()}, ${cpus[0] ? cpus[0].model.trim() : 'unknown CPU'}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
    `- Phobos: ${gitDescribe()}`,
    `- Node ${process.version}; msgpackr ${versionOf('msgpackr', root)}, moleculer ${versionOf('moleculer', bench)}, ` +
      `@nestjs/microservices ${versionOf('@nestjs/microservices', bench)}`,
    `- Date: ${started.toISOString()} (took ${Math.round((Date.now() - started) / 1000)} s); ` +
      `load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`,
    '',
    text,
    '',
    '<details><summary>Every round</summary>',
    '',
    table(
      ['round', 'contender', ...METRICS.map((x) => x.label)],
      names.flatMap((n) => results[n].map((r, i) => [i + 1, n, ...METRICS.map((x) => fmt(get(r, x.key) * x.scale, x.digits))])),
    ),
    '',
    '</details>',
    '',
  ];
  // Sections below the marker come from other bench scripts (selection cost, governance): keep them.
  const previous = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : '';
  const kept = previous.indexOf(KEEP_MARKER);
  fs.writeFileSync(outFile, md.join('\n') + (kept >= 0 ? `\n${previous.slice(kept)}` : ''));
  console.log(`wrote ${path.relative(root, outFile)}`);
}

// ---- main ------------------------------------------------------------------------------------------------------

async function main() {
  if (!fs.existsSync(path.join(bench, 'node_modules'))) {
    console.error('bench: installing peer dependencies (npm ci --prefix bench)...');
    execFileSync('npm', ['ci', '--prefix', bench, '--no-audit', '--no-fund'], { stdio: ['ignore', 2, 2] });
  }
  if (names.includes('phobos') && !fs.existsSync(CONTENDERS.phobos.server[0])) {
    fail('dist/bench/phobos/server.js is missing: run `npm run build` (npm run bench builds first)');
  }
  const started = new Date();
  loadAtStart = os.loadavg();
  if (loadAtStart[0] > 0.5 * os.cpus().length) {
    console.error(`bench: load average ${loadAtStart[0].toFixed(2)} on ${os.cpus().length} CPUs; numbers will be noisy`);
  }
  const results = Object.fromEntries(names.map((n) => [n, []]));
  const errors = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of names) {
      process.stderr.write(`round ${round}/${ROUNDS} ${name.padEnd(9)} `);
      try {
        const r = await runOnce(name);
        results[name].push(r);
        console.error(
          `seq p50 ${fmt(r.seq.p50 * 1000)} µs  ${fmt(r.seq.rps)} req/s | 64: ${fmt(r.c64.rps)} req/s ` +
            `p99 ${fmt(r.c64.p99, 2)} ms | 16 KiB: ${fmt(r.big.mbps, 1)} MB/s`,
        );
      } catch (err) {
        errors.push({ round, name, message: err.message });
        console.error(`FAILED: ${err.message}`);
      }
    }
  }
  report(results, errors, started);
  process.exitCode = errors.length ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(1); // procs.cjs kills every child on exit
});
