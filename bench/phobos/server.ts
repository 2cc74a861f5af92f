import { createService } from '../../lib';
import { Bench } from './bench';

/**
 * Phobos contender, server: the Bench service on Phobos' defaults (mDNS registry on loopback, tcp transport,
 * msgpack). Flags from the runner pass through argv. Prints READY once listening and registered.
 */
async function main(): Promise<void> {
  const service = createService({ name: 'bench' });
  service.handle(new Bench());
  await service.start();
  console.log(`READY ${service.address}`);
  await service.run(); // until SIGTERM: deregister, drain, exit 0
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
