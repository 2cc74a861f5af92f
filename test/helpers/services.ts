import { createService, type PhobosService, type ServiceOptions } from '../../lib';

/** Services for in-process tests: memory registry and broker in a namespace of their own, flags from the test only. */

let ns = 0;
const started: PhobosService[] = [];

export function testService(options: Partial<ServiceOptions> & { namespace?: string } = {}): PhobosService {
  const namespace = options.namespace ?? `ns${++ns}`;
  const service = createService({
    name: 'test',
    registry: 'memory',
    broker: 'memory',
    transport: 'tcp',
    argv: [],
    env: {},
    exitOnConfigError: false,
    logLevel: 'silent',
    ...options,
    plugins: { memory: { namespace }, ...options.plugins },
  });
  started.push(service);
  return service;
}

export function newNamespace(): string {
  return `ns${++ns}`;
}

export async function stopAll(): Promise<void> {
  await Promise.all(started.splice(0).map((s) => s.stop()));
}
