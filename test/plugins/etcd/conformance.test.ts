import { createRegistry } from '../../../plugins/etcd';
import { registryConformance } from '../../conformance/registry';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';

/**
 * The etcd registry against the shared conformance suite, on the shared etcd. TTL 2 s is etcd's own minimum (it
 * raises shorter leases to it). Expiry slack: etcd's lessor looks for expired leases every 500 ms and the last
 * keep-alive may land up to a third of the TTL after the registration; 1.5 s covers both with room for a loaded box.
 * close() only stops keep-alives (no revoke), so the default crash (close) is a crash.
 */
describeEngine('etcd', 'etcd registry', () => {
  registryConformance({
    make: () => createRegistry({ hosts: ENGINE_ADDRESSES.etcd, prefix: '/phobos-test/conformance' }),
    ttl: 2,
    expirySlackMs: 1500,
    propagationMs: 2000,
  });
});
