'use strict';
/** Raw contender, client adapter: one connection, requests multiplexed by id. */
const net = require('node:net');
const { writer, reader } = require('./raw-wire.cjs');

exports.connect = async ({ port }) => {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const pending = new Map();
  let nextId = 0;
  const send = writer(socket);
  socket.on('data', reader((id, reply) => {
    const resolve = pending.get(id);
    pending.delete(id);
    if (resolve) resolve(reply.data);
  }));
  socket.on('close', () => {
    // Resolving with a rejected promise rejects the caller's promise.
    for (const resolve of pending.values()) resolve(Promise.reject(new Error('raw: connection closed')));
    pending.clear();
  });
  return {
    call(data) {
      if (socket.destroyed) return Promise.reject(new Error('raw: connection closed'));
      const id = (nextId = (nextId + 1) >>> 0);
      return new Promise((resolve) => {
        pending.set(id, resolve);
        send(id, { data });
      });
    },
    close: async () => void socket.destroy(),
  };
};
