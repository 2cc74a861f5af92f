import { randomBytes } from 'node:crypto';
import { transportConformance } from '../../conformance/transport';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { NatsTransport } from '../../../plugins/nats';

/** The NATS plugins against the same conformance suites as every other registry, broker and transport. */

describeEngine('nats', 'nats transport', () => {
  transportConformance({
    make: () => new NatsTransport({ address: ENGINE_ADDRESSES.nats }),
    listenAddress: '127.0.0.1:0',
    deadAddress: `phobos.rpc.nobody.${randomBytes(6).toString('hex')}`,
  });
});
