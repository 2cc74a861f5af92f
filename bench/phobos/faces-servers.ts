import { Server as GrpcServer, loadPackageDefinition, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serveGrpc } from '../../plugins/grpc';
import { startGateway } from '../../plugins/http';
import { benchService, FacesEcho, FACES_PROTO, PROTO_SERVICE } from './faces-common';

/**
 * The servers the faces bench measures, each started in the runner's process (the load generator is a child):
 * what the load generator is pointed at, and how to stop it. `name` is the Phobos service name for this row.
 */

export interface Target {
  /** The load generator's argv after its script: mode and target. */
  load: string[];
  close(): Promise<void>;
}

/** The baseline: node:http, JSON.parse and JSON.stringify, nothing else. */
export async function bareHttp(): Promise<Target> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.from(JSON.stringify(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    load: ['http', `http://127.0.0.1:${port}/faces/echo`],
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The gateway and the echo service in one process: the call takes the in-process fast path. */
export async function gatewayLocal(name: string): Promise<Target> {
  const service = benchService(name, 'tcp').handle(new FacesEcho());
  await service.start();
  const gateway = await startGateway(service, { address: '127.0.0.1:0' });
  return {
    load: ['http', `http://${gateway.address}/${name}/echo`],
    close: async () => {
      await gateway.close();
      await service.stop();
    },
  };
}

/** The gateway here, the echo service in a process of its own, reached over tcp through the mDNS registry. */
export async function gatewayRemote(name: string): Promise<Target> {
  const child = await startChild(join(__dirname, 'faces-service.js'), [name, 'tcp']);
  const service = benchService(`${name}-gateway`, 'tcp');
  await service.start();
  const gateway = await startGateway(service, { address: '127.0.0.1:0' });
  return {
    load: ['http', `http://${gateway.address}/${name}/echo`],
    close: async () => {
      await gateway.close();
      await service.stop();
      await stopChild(child);
    },
  };
}

/** The gRPC baseline: a stock grpc-js server from faces.proto, the handler answering the request it got. */
export async function bareGrpc(): Promise<Target> {
  const pkg = loadPackageDefinition(loadSync(FACES_PROTO)).faces as Record<string, { service: ServiceDefinition }>;
  const server = new GrpcServer();
  server.addService(pkg.Echo.service, {
    Echo: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => callback(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { load: ['grpc', `127.0.0.1:${port}`], close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

/** The Phobos gRPC face over the same .proto, the echo endpoint in this process. */
export async function grpcFace(name: string): Promise<Target> {
  const service = benchService(name, 'tcp').handle(new FacesEcho());
  await service.start();
  const face = await serveGrpc(service, { proto: FACES_PROTO, address: '127.0.0.1:0', services: { [name]: PROTO_SERVICE }, forward: false });
  return {
    load: ['grpc', face.address],
    close: async () => {
      await face.close();
      await service.stop();
    },
  };
}

/** The echo service over `transport`, called by a Phobos client in the load generator's process. */
export async function phobosOver(name: string, transport: string): Promise<Target> {
  const service = benchService(name, transport).handle(new FacesEcho());
  await service.start();
  return { load: ['phobos', name, transport], close: () => service.stop() };
}

/** A child node process that prints READY when it can be called. */
async function startChild(script: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready within 20 s\n${err}`)), 20_000);
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited ${code}\n${err}`));
    });
  });
  return child;
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
