import { MemoryBroker } from '../../lib/broker/memory';
import { MemoryRegistry } from '../../lib/registry/memory';
import { MemoryTransport } from '../../lib/transport/memory';
import { brokerConformance } from './broker';
import { registryConformance } from './registry';
import { transportConformance } from './transport';

/** The in-process parts run the same conformance suites as the engines (one namespace per suite). */

describe('memory registry', () => {
  registryConformance({ make: () => new MemoryRegistry({ namespace: 'conformance-registry' }), ttl: 1, expirySlackMs: 600, propagationMs: 500 });
});

describe('memory broker', () => {
  brokerConformance({ make: () => new MemoryBroker({ namespace: 'conformance-broker' }), redelivers: false, deliveryMs: 1000 });
});

describe('memory transport', () => {
  transportConformance({ make: () => new MemoryTransport(), listenAddress: 'memory:0', deadAddress: 'memory:nobody-here' });
});
