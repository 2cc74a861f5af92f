'use strict';
/** Moleculer contender, server: service `bench` with action `echo`. */
const { createBroker } = require('./moleculer-common.cjs');

const broker = createBroker('bench-server', { port: Number(process.env.BENCH_PORT) });
broker.createService({
  name: 'bench',
  actions: {
    echo(ctx) {
      return ctx.params;
    },
  },
});
broker.start().then(() => console.log('READY'));
process.on('SIGTERM', () => broker.stop().finally(() => process.exit(0)));
