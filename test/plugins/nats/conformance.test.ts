import { randomBytes } from 'node:crypto';
import { brokerConformance } from '../../conformance/broker';
import { transportConformance } from '../../conformance/transport';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { deleteTestStreams } from './helpers';
import { NatsBroker, NatsRegistry, NatsTransport } from '../../../plugins/nats';
import { registryConformance } from '../../conformance/registry';

/** The NATS plugins against the same conformance suites as every other registry, broker and transport. */

describeEngine('nats', 'nats transport', () => {
  transportConformance({
    make: () => new NatsTransport({ address: ENGINE_ADDRESSES.nats }),
    listenAddress: '127.0.0.1:0',
    deadAddress: `phobos.rpc.nobody.${randomBytes(6).toString('hex')}`,
  });
});

describeEngine('nats', 'nats broker', () => {
  afterAll(() => deleteTestStreams());
  brokerConformance({
    make: async () => {
      const b = new NatsBroker({ address: ENGINE_ADDRESSES.nats, durable: { redeliveryDelay: 100 } });
      await b.connect();
      return b;
    },
    redelivers: true,
    deliveryMs: 5000,
  });
});

describeEngine('nats', 'nats registry', () => {
  registryConformance({
    make: () => new NatsRegistry({ address: ENGINE_ADDRESSES.nats }),
    ttl: 1,
    expirySlackMs: 500,
    propagationMs: 2000,
  });
});
