import { createService, RpcError } from '../../lib';
import type { Greeter } from './greeter';

// Calls the greeter through the typed proxy: `hello` takes a HelloRequest and resolves to a HelloReply, inferred
// from the Greeter class itself. The server is found through the registry; no address is configured.
async function main(): Promise<void> {
  const service = createService({ name: 'greeter-client' });
  const greeter = service.client.service<Greeter>('greeter');
  try {
    const reply = await greeter.hello({ name: process.env.GREETER_NAME ?? 'World' });
    console.log(`reply: ${reply.message} (from pid ${reply.pid})`);
    const { sum } = await greeter.add({ a: 2, b: 3 });
    console.log(`2 + 3 = ${sum}`);
    await greeter.hello({ name: '' }).catch((err: RpcError) => console.log(`validation: ${err.code} ${err.detail}`));
  } catch (err) {
    const e = err as RpcError;
    console.error(`call failed: ${e.code ?? ''} ${e.message}`);
    process.exitCode = 1;
  } finally {
    await service.stop();
  }
}

void main();
