'use strict';
/**
 * NestJS contender, server: a microservice on Transport.TCP (JSON over length#json frames, Nest's default). Plain
 * CommonJS: the decorators are applied with Reflect.decorate instead of TypeScript syntax.
 */
require('reflect-metadata');
const { Controller, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { MessagePattern, Transport } = require('@nestjs/microservices');

class BenchController {
  echo(req) {
    return req;
  }
}
Reflect.decorate(
  [MessagePattern('echo')],
  BenchController.prototype,
  'echo',
  Object.getOwnPropertyDescriptor(BenchController.prototype, 'echo'),
);
Reflect.decorate([Controller()], BenchController);

class BenchModule {}
Reflect.decorate([Module({ controllers: [BenchController] })], BenchModule);

async function main() {
  const app = await NestFactory.createMicroservice(BenchModule, {
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port: Number(process.env.BENCH_PORT) },
    logger: false,
  });
  await app.listen();
  console.log('READY');
  process.on('SIGTERM', () => app.close().finally(() => process.exit(0)));
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
