import type { Broker } from '../../lib/broker/broker';
import { P2PBroker } from '../../lib/broker/p2p';
import { RegistryCache } from '../../lib/registry/cache';
import { MemoryRegistry } from '../../lib/registry/memory';
import { TcpTransport } from '../../lib/transport/tcp';
import { brokerConformance } from './broker';
import { transportConformance } from './transport';
import { freePort } from '../helpers/engines';

/** The zero-server defaults, tcp and the p2p broker, against the same conformance suites as the engines. */

describe('tcp transport', () => {
  let dead = '127.0.0.1:1';
  beforeAll(async () => {
    dead = `127.0.0.1:${await freePort()}`;
  });
  transportConformance({
    make: () => new TcpTransport(),
    listenAddress: '127.0.0.1:0',
    get deadAddress() {
      return dead;
    },
  });
});

describe('p2p broker', () => {
  // Every client gets its own registry client, cache and transport, as a separate process would; they share one
  // memory registry namespace in place of mdns.
  brokerConformance({
    make: async (): Promise<Broker> => {
      const registry = new MemoryRegistry({ namespace: 'conformance-p2p' });
      const cache = new RegistryCache(registry);
      const transport = new TcpTransport();
      const broker = new P2PBroker({ cache, transport, ttl: 30, interval: 10 });
      await broker.connect();
      const close = broker.close.bind(broker);
      broker.close = async () => {
        await close();
        cache.close();
        await registry.close();
      };
      return broker;
    },
    redelivers: false,
    deliveryMs: 3000,
  });
});
