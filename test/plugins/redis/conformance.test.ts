import { RedisBroker, RedisRegistry } from '../../../plugins/redis';
import { brokerConformance } from '../../conformance/broker';
import { registryConformance } from '../../conformance/registry';
import { describeEngine } from '../../helpers/engines';
import { deleteKeys, REDIS, uniquePrefix } from './helpers';

/** The redis registry and broker against the same conformance suites as every other registry and broker. */

describeEngine('redis', 'redis registry (keyspace expiry events)', () => {
  const prefix = uniquePrefix('registry');
  afterAll(() => deleteKeys(prefix));
  registryConformance({
    make: async () => {
      const r = new RedisRegistry({ address: REDIS, prefix });
      await r.connect();
      return r;
    },
    ttl: 1,
    expirySlackMs: 1000,
    propagationMs: 2000,
  });
});

// The path taken when the server refuses CONFIG: no expiry events, the watchers' periodic sweep finds expired nodes.
describeEngine('redis', 'redis registry (expiry found by sweeping)', () => {
  const prefix = uniquePrefix('registry-sweep');
  afterAll(() => deleteKeys(prefix));
  registryConformance({
    make: async () => {
      const r = new RedisRegistry({ address: REDIS, prefix, keyspaceEvents: false, sweepIntervalMs: 250 });
      await r.connect();
      return r;
    },
    ttl: 1,
    expirySlackMs: 1000,
    propagationMs: 2000,
  });
});

describeEngine('redis', 'redis broker', () => {
  const prefix = uniquePrefix('broker');
  afterAll(() => deleteKeys(prefix));
  brokerConformance({
    make: async () => {
      const b = new RedisBroker({ address: REDIS, prefix, retryDelayMs: 200 });
      await b.connect();
      return b;
    },
    redelivers: true,
    deliveryMs: 3000,
  });
});
