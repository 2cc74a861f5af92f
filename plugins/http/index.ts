import type { PhobosService } from '../../lib/service';
import { startGateway, type Gateway } from './server';
import type { GatewayOptions } from './options';

/**
 * The HTTP gateway (`plugins/http`): the outside world calls Phobos services over plain HTTP.
 *   POST /{service}/{endpoint}   a call through the service's client (selector, fail modes, breakers)
 *   POST /rpc                    JSON-RPC 2.0, batches included
 *   GET  /openapi.json           OpenAPI 3.1 from the registry's endpoint schemas
 *   GET  /health, /ready         liveness and readiness
 * Server-streaming endpoints answer `Accept: text/event-stream` with server-sent events. node:http and node:zlib
 * only: no framework between the socket and the call. See docs/plugins.md ("http (gateway)") for the status table.
 */

export { createGateway, startGateway } from './server';
export type { Gateway } from './server';
export type { GatewayOptions, CorsOptions } from './options';
export { GATEWAY_ID } from './errors';

/** The gateway of a service, started and stopped with it (attachGateway). */
export interface AttachedGateway {
  /** The running gateway, once the service has started. */
  readonly gateway: Gateway | undefined;
  /** Resolves with the gateway once it listens (after the service started); rejects if it cannot listen. */
  readonly started: Promise<Gateway>;
}

/**
 * Starts the gateway when `service` has started (at once if it already has) and closes it when the service begins to
 * stop, before the service deregisters and drains: requests still in flight finish while the client still works.
 */
export function attachGateway(service: PhobosService, options: GatewayOptions = {}): AttachedGateway {
  let gateway: Gateway | undefined;
  let settle!: { resolve: (g: Gateway) => void; reject: (err: unknown) => void };
  const started = new Promise<Gateway>((resolve, reject) => (settle = { resolve, reject }));
  // Nobody may be awaiting `started`: a failed listen then surfaces through service.start() (the hook throws).
  started.catch(() => {});
  const start = async () => {
    try {
      gateway = await startGateway(service, options);
      settle.resolve(gateway);
    } catch (err) {
      settle.reject(err);
      throw err;
    }
  };
  if (service.lifecycle === 'started') void start().catch((err) => service.logger.error({ err }, 'the gateway could not start'));
  else service.on('afterStart', start);
  service.on('beforeStop', async () => {
    await gateway?.close();
  });
  return {
    get gateway() {
      return gateway;
    },
    started,
  };
}
