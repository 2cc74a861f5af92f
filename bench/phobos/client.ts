import { createService } from '../../lib';
import type { Bench } from './bench';

/**
 * Phobos contender, client adapter (loaded by bench/client.cjs): finds `bench` through the registry like any
 * Phobos client and calls it through the typed proxy.
 */
export interface BenchClient {
  call(data: string): Promise<unknown>;
  close(): Promise<void>;
}

const DISCOVERY_TIMEOUT = 20_000;

export async function connect(): Promise<BenchClient> {
  const service = createService({ name: 'bench-client' });
  const bench = service.client.service<Bench>('bench');
  // The server is READY, but its announcement may still be on its way: retry the first call for a bounded time.
  const deadline = Date.now() + DISCOVERY_TIMEOUT;
  for (let attempt = 1; ; attempt++) {
    try {
      await bench.echo({ data: 'ping' }, { timeout: 1000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
    }
  }
  return {
    call: (data) => bench.echo({ data }).then((reply) => reply.data),
    close: () => service.stop(),
  };
}
