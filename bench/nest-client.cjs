'use strict';
/** NestJS contender, client adapter: ClientProxyFactory on Transport.TCP, one request per send(). */
require('reflect-metadata');
const { ClientProxyFactory, Transport } = require('@nestjs/microservices');
const { lastValueFrom } = require('rxjs');

exports.connect = async ({ port }) => {
  const client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  await client.connect();
  return {
    call: (data) => lastValueFrom(client.send('echo', { data })).then((reply) => reply.data),
    close: async () => client.close(),
  };
};
