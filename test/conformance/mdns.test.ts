import { createRegistry, type MdnsRegistry } from '../../plugins/mdns';
import { registryConformance } from './registry';

/** The default registry, mdns on loopback, against the same conformance suite as the engine registries. */

describe('mdns registry', () => {
  registryConformance({
    make: () => createRegistry({ interface: '127.0.0.1', bind: '0.0.0.0' }),
    ttl: 1,
    expirySlackMs: 1500,
    propagationMs: 3000,
    crash: (r) => (r as MdnsRegistry).kill(),
  });
});
