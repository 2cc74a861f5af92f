import { createService } from '../../lib';
import { Greeter } from './greeter';

/**
 * `npm run greeter:stream`: streaming calls in one process, over real tcp sockets (registry and broker in memory, so
 * nothing else is needed). The caller is a second service, so the calls cross the transport.
 */
async function main(): Promise<void> {
  const parts = { registry: 'memory', broker: 'memory' } as const;
  const server = createService({ name: 'greeter', version: '1.0.0', ...parts });
  server.handle(new Greeter());
  await server.start();
  const caller = createService({ name: 'greeter-stream-client', ...parts });
  const greeter = caller.client.service<Greeter>('greeter');
  try {
    // Server streaming: the promise resolves once the server accepted the call; the numbers arrive as they are made.
    const numbers: number[] = [];
    for await (const { n } of await greeter.countdown({ from: 5 })) numbers.push(n);
    console.log(`countdown: ${numbers.join(' ')}`);

    // Client streaming: the readings are pulled from this generator only as fast as the server takes them.
    const { count, mean } = await greeter.average(readings([3, 5, 10]));
    console.log(`average of ${count} readings: ${mean}`);

    // Leaving the loop early cancels the call on the server.
    for await (const { n } of await greeter.countdown({ from: 1000 })) {
      if (n === 998) break;
    }
    console.log('stopped a countdown from 1000 after 3 numbers');
  } finally {
    await caller.stop();
    await server.stop();
  }
}

async function* readings(values: number[]): AsyncGenerator<{ value: number }> {
  for (const value of values) yield { value };
}

main().catch((err) => {
  console.error(`stream example failed: ${(err as Error).message}`);
  process.exit(1);
});
