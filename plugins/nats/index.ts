export { NatsTransport } from './transport';
export { NatsBroker } from './broker';
