import { benchService, FacesEcho } from './faces-common';

/**
 * The faces bench's echo service in a process of its own (the "gateway → tcp → service" row): argv[2] is the
 * service name, argv[3] the transport. Prints READY once registered; stops on SIGTERM.
 */
async function main(): Promise<void> {
  const [name, transport = 'tcp'] = process.argv.slice(2);
  const service = benchService(name, transport).handle(new FacesEcho());
  await service.start();
  console.log(`READY ${service.address}`);
  await service.run();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
