'use strict';
/** Raw contender, server: a plain net server that echoes each request body back under the same id. */
const net = require('node:net');
const { writer, reader } = require('./raw-wire.cjs');

const server = net.createServer({ noDelay: true }, (socket) => {
  const send = writer(socket);
  socket.on('data', reader((id, req) => send(id, req)));
  socket.on('error', () => socket.destroy());
});
server.listen(Number(process.env.BENCH_PORT), '127.0.0.1', () => console.log('READY'));
process.on('SIGTERM', () => process.exit(0));
