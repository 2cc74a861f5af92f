import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createService, Method, Service, type PhobosService } from '../../lib';

/**
 * What the faces bench's processes share: the echo handler, the payload, the .proto, and how a Phobos service of
 * the bench is made. Every process of one run uses the service name the runner picked (`faces-<pid>`), so the mDNS
 * registry on loopback never mixes this run with another bench running on the same machine.
 */

export const PAYLOAD = { data: 'hello, phobos' };
export const IN_FLIGHT = 64;

/** faces.proto: next to this file from source, in the repository's bench/phobos when run from dist. */
export const FACES_PROTO =
  [join(__dirname, 'faces.proto'), join(__dirname, '..', '..', '..', 'bench', 'phobos', 'faces.proto')].find((p) => existsSync(p)) ??
  join(__dirname, 'faces.proto');
export const PROTO_SERVICE = 'faces.Echo';

/** The echo endpoint every Phobos row serves; its registry name is the service's own (no name in @Service). */
@Service()
export class FacesEcho {
  @Method()
  async echo(req: { data: string }): Promise<{ data: string }> {
    return req;
  }
}

export function benchService(name: string, transport: string, preferLocal = true): PhobosService {
  return createService({ name, transport, registry: 'mdns', argv: [], env: {}, logLevel: 'silent', preferLocal });
}

/** A latency summary: nearest-rank percentiles of the samples (ms), sorted in place. */
export function summary(samples: Float64Array, count: number, seconds: number): { rps: number; p50: number; p99: number } {
  const s = samples.subarray(0, count).sort();
  const pct = (p: number) => s[Math.min(count, Math.max(1, Math.ceil((p / 100) * count))) - 1];
  return { rps: count / seconds, p50: pct(50), p99: pct(99) };
}
