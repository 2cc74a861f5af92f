import { createService } from '../../lib';
import { Greeter } from './greeter';

// A greeter server on the defaults (mDNS registry on loopback, tcp transport, p2p broker, msgpack).
// Swap parts with flags, e.g. `node dist/examples/greeter/server.js --registry=memory --log_level=info`.
async function main(): Promise<void> {
  const service = createService({ name: 'greeter', version: '1.0.0' });
  service.handle(new Greeter());
  service.on('afterStart', () => console.log(`greeter listening on ${service.address} (node ${service.nodeId})`));
  await service.run(); // start, then until SIGINT/SIGTERM; then deregister, drain, exit 0
}

void main();
