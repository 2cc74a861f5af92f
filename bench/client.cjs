'use strict';
/**
 * Client process for one contender: `BENCH_CONTENDER=raw BENCH_PORT=4000 node bench/client.cjs [framework flags]`.
 * Bench settings travel in the environment so that argv stays free for the framework's own flags (Phobos parses
 * process.argv itself). Prints one JSON line on stdout.
 */
const path = require('node:path');
const { main } = require('./driver.cjs');

const adapters = {
  raw: './raw-client.cjs',
  phobos: path.join(__dirname, '..', 'dist', 'bench', 'phobos', 'client.js'),
  moleculer: './moleculer-client.cjs',
  nestjs: './nest-client.cjs',
};
const name = process.env.BENCH_CONTENDER;
if (!adapters[name]) {
  console.error(`unknown BENCH_CONTENDER=${name}; one of ${Object.keys(adapters).join(', ')}`);
  process.exit(2);
}
const opts = { port: Number(process.env.BENCH_PORT), seconds: Number(process.env.BENCH_SECONDS) || 2 };

main(require(adapters[name]).connect, opts).then(
  (result) => {
    process.stdout.write(JSON.stringify({ contender: name, ...result }) + '\n');
    process.exit(0);
  },
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
