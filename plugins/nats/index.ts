export { NatsTransport } from './transport';
