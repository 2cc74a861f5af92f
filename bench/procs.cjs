'use strict';
/** Child processes for the bench runners: start, wait for output, stop; every child is killed when the runner exits. */
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const children = new Set();

function killAll() {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

function start(argv, env) {
  const child = spawn(process.execPath, argv, { cwd: root, env: { ...process.env, ...env }, stdio: 'pipe' });
  children.add(child);
  child.stdoutText = '';
  child.stderrTail = '';
  child.stdout.setEncoding('utf8').on('data', (s) => (child.stdoutText += s));
  child.stderr.setEncoding('utf8').on('data', (s) => (child.stderrTail = (child.stderrTail + s).slice(-4000)));
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  child.exited.then(() => children.delete(child));
  return child;
}

/** A timer that never keeps the runner alive. */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

async function waitFor(child, test, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (test()) return;
    if (child.exitCode !== null || child.signalCode !== null) break;
    await sleep(25);
  }
  if (test()) return;
  const state = child.exitCode !== null || child.signalCode !== null ? 'exited' : 'timed out';
  throw new Error(`${what} ${state}\n${child.stderrTail.trim()}`);
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await Promise.race([child.exited, sleep(3000)]);
  child.kill('SIGKILL');
  await child.exited;
}

/** Runs `argv` to completion (bounded by `ms`) and returns the JSON of its last stdout line. */
async function runForJson(argv, env, ms, what) {
  const child = start(argv, env);
  try {
    await waitFor(child, () => child.exitCode !== null, ms, what);
    if (child.exitCode !== 0) throw new Error(`${what} exited ${child.exitCode}\n${child.stderrTail.trim()}`);
    return JSON.parse(child.stdoutText.trim().split('\n').pop());
  } finally {
    await stop(child);
  }
}

module.exports = { root, start, sleep, waitFor, stop, runForJson };
