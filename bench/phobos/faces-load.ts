import { credentials, loadPackageDefinition, type Client as GrpcClient, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Agent, request } from 'node:http';
import { benchService, FacesEcho, FACES_PROTO, IN_FLIGHT, PAYLOAD, summary } from './faces-common';

/**
 * The faces bench's load generator, run in a child process so the server under test keeps its own core as far as
 * two cores allow. One mode per run:
 *   http <url>                      POST the JSON echo over a keep-alive agent of 64 sockets
 *   grpc <host:port>                the unary faces.Echo/Echo from faces.proto with a stock grpc-js client
 *   phobos <service> <transport>    a Phobos client (mDNS registry) calling <service>.echo over that transport
 * Warms up for BENCH_WARMUP seconds, then keeps 64 calls in flight for BENCH_SECONDS and prints one JSON line:
 * calls per second, p50 and p99 in ms, and the number of failed or wrong replies.
 */

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const MAX_SAMPLES = 4_000_000;

type Call = () => Promise<{ data?: unknown } | undefined>;

function httpCaller(url: string): { call: Call; close(): void } {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const body = Buffer.from(JSON.stringify(PAYLOAD));
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  const call: Call = () =>
    new Promise((resolve, reject) => {
      const req = request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(JSON.parse(text));
          else reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  return { call, close: () => agent.destroy() };
}

function grpcCaller(address: string): { call: Call; close(): void } {
  const definition = loadSync(FACES_PROTO);
  const Echo = (loadPackageDefinition(definition).faces as Record<string, new (a: string, c: ReturnType<typeof credentials.createInsecure>) => GrpcClient>).Echo;
  const client = new Echo(address, credentials.createInsecure()) as GrpcClient & {
    Echo(req: unknown, cb: (err: ServiceError | null, reply?: { data?: unknown }) => void): void;
  };
  const call: Call = () => new Promise((resolve, reject) => client.Echo(PAYLOAD, (err, reply) => (err ? reject(err) : resolve(reply))));
  return { call, close: () => client.close() };
}

async function phobosCaller(name: string, transport: string): Promise<{ call: Call; close(): Promise<void> }> {
  const service = benchService(`${name}-load`, transport);
  const echo = service.client.service<FacesEcho>(name);
  const call: Call = () => echo.echo(PAYLOAD);
  return { call, close: () => service.stop() };
}

/** Calls until one succeeds (the server may still be announcing itself), for at most 20 s. */
async function firstCall(call: Call): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (let attempt = 1; ; attempt++) {
    try {
      await call();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.min(50 * attempt, 500)));
    }
  }
}

/** 64 callers for `seconds`; latencies go into `samples` when given. */
async function drive(call: Call, seconds: number, samples?: Float64Array): Promise<{ count: number; errors: number; lastError?: string }> {
  let count = 0;
  let errors = 0;
  let lastError: string | undefined;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const reply = await call();
        if (reply?.data !== PAYLOAD.data) throw new Error(`not the echo: ${JSON.stringify(reply)}`);
        if (samples && count < MAX_SAMPLES) samples[count] = performance.now() - t0;
        count++;
      } catch (err) {
        errors++;
        lastError = (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { count, errors, lastError };
}

async function main(): Promise<void> {
  const [mode, a, b] = process.argv.slice(2);
  const caller = mode === 'http' ? httpCaller(a) : mode === 'grpc' ? grpcCaller(a) : mode === 'phobos' ? await phobosCaller(a, b) : undefined;
  if (!caller) throw new Error(`unknown mode ${mode}: http <url> | grpc <address> | phobos <service> <transport>`);
  await firstCall(caller.call);
  await drive(caller.call, WARMUP);
  const samples = new Float64Array(MAX_SAMPLES);
  const t0 = performance.now();
  const run = await drive(caller.call, SECONDS, samples);
  const elapsed = (performance.now() - t0) / 1000;
  const measured = Math.min(run.count, MAX_SAMPLES);
  console.log(JSON.stringify({ ...summary(samples, measured, elapsed), rps: run.count / elapsed, errors: run.errors, lastError: run.lastError }));
  await caller.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
