#!/usr/bin/env node
/**
 * Makes a fresh clone runnable: installs dependencies when node_modules is missing or older than the lock file, and
 * compiles TypeScript to dist/ when any source is newer than the last build. Used by `npm start`, `npm test` (through
 * jest's globalSetup) and the example scripts, so a newcomer needs no other command.
 */
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const mtime = (p) => {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return 0;
  }
};

function newestSource(dir) {
  let newest = 0;
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts') || e.name.endsWith('.proto')) newest = Math.max(newest, mtime(p));
  }
  return newest;
}

function run(cmd) {
  try {
    execSync(cmd, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    console.error(`[phobos] "${cmd}" failed (see above)`);
    process.exit(1);
  }
}

const installed = mtime(path.join(root, 'node_modules', '.package-lock.json'));
const lock = mtime(path.join(root, 'package-lock.json'));
if (!installed || installed < lock) {
  console.error('[phobos] installing dependencies (npm ci)...');
  run('npm ci --no-audit --no-fund');
}

const built = mtime(path.join(root, 'dist', '.tsbuildinfo'));
const sources = Math.max(
  ...['lib', 'plugins', 'examples', 'test/fixtures', 'bench/phobos'].map((d) => newestSource(path.join(root, d))),
  mtime(path.join(root, 'tsconfig.json')),
  mtime(path.join(root, 'tsconfig.build.json')),
);
if (!built || built < sources) {
  console.error('[phobos] building dist/ (tsc)...');
  run('npx tsc -p tsconfig.build.json');
  // tsc leaves the build-info untouched when nothing needed emitting; touch it so the next check is instant.
  const now = new Date();
  fs.utimesSync(path.join(root, 'dist', '.tsbuildinfo'), now, now);
}
