'use strict';
/** Moleculer contender, client adapter: a broker that knows the server from a static loopback URL. */
const { createBroker } = require('./moleculer-common.cjs');

exports.connect = async ({ port }) => {
  const broker = createBroker('bench-client', { urls: [`127.0.0.1:${port}/bench-server`] });
  await broker.start();
  await broker.waitForServices('bench', 20_000);
  return {
    call: (data) => broker.call('bench.echo', { data }).then((reply) => reply.data),
    close: () => broker.stop(),
  };
};
