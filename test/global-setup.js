// Multi-process tests start real child processes from dist/, so make sure it is installed and built first. Then the
// engines: start any that is installed but not listening (never installing anything), and tell the test workers which
// ones answer (test/helpers/engines.ts reads PHOBOS_ENGINES_UP).
const { spawnSync } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');

const PORTS = { nats: 4222, redis: 6379, rabbitmq: 5672, mqtt: 1883, etcd: 2379 };

function open(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => done(true));
  });
}

module.exports = async () => {
  require('../scripts/ensure.cjs');
  const states = await Promise.all(Object.values(PORTS).map(open));
  if (states.some((up) => !up)) {
    const r = spawnSync('bash', [path.join(__dirname, '..', 'scripts', 'engines.sh'), '--no-install'], { encoding: 'utf8' });
    const started = (r.stdout || '').split('\n').filter((l) => /started|not installed|did not/.test(l));
    if (started.length) process.stderr.write(`\n${started.join('\n')}\n`);
  }
  const up = [];
  for (const [name, port] of Object.entries(PORTS)) if (await open(port)) up.push(name);
  process.env.PHOBOS_ENGINES_UP = up.join(',');
};
