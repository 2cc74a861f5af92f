import { GrpcTransport } from '../../../plugins/grpc';
import { transportConformance } from '../../conformance/transport';

/** `--transport=grpc` runs the shared transport conformance suite (streams are not carried by this transport). */

describe('grpc transport', () => {
  // Port 1 on loopback: nothing listens there, so a dial is refused at once.
  transportConformance({ make: () => new GrpcTransport(), listenAddress: '127.0.0.1:0', deadAddress: '127.0.0.1:1' });
});
