import { parseArgs } from 'node:util';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './observe/logger';

/**
 * Flags and environment into one validated Config. Precedence, explicitly: a flag the user typed > its PHOBOS_* env
 * twin > the option given in code > the default. (go-micro let flag defaults overwrite code options for years; here
 * a flag counts only when it was actually typed.) Bad values raise a ConfigError whose message is one line naming
 * the flag, the value and what was expected.
 */

export interface Config {
  registry: string;
  registryAddress: string | undefined;
  transport: string;
  transportAddress: string | undefined;
  broker: string;
  brokerAddress: string | undefined;
  codec: string;
  selector: string;
  serverAddress: string;
  serverAdvertise: string | undefined;
  /** Seconds. */
  registerTtl: number;
  /** Seconds. */
  registerInterval: number;
  clientRetries: number;
  /** Milliseconds. */
  clientRequestTimeout: number;
  clientPoolSize: number;
  metricsAddress: string | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Kind = 'name' | 'address' | 'seconds' | 'millis' | 'count' | 'level' | 'format';
interface FlagSpec {
  key: keyof Config;
  kind: Kind;
  help: string;
}

/** Every flag, its Config key and type; the README's flags table is this list. */
export const FLAGS: Record<string, FlagSpec> = {
  registry: { key: 'registry', kind: 'name', help: 'registry plugin (mdns, memory, ...)' },
  registry_address: { key: 'registryAddress', kind: 'address', help: 'registry address(es), comma-separated' },
  transport: { key: 'transport', kind: 'name', help: 'transport plugin (tcp, memory, nats, grpc)' },
  transport_address: { key: 'transportAddress', kind: 'address', help: 'transport engine address(es)' },
  broker: { key: 'broker', kind: 'name', help: 'broker plugin (p2p, memory, ...)' },
  broker_address: { key: 'brokerAddress', kind: 'address', help: 'broker address(es); for p2p, the subscriber listen address' },
  codec: { key: 'codec', kind: 'name', help: 'default codec for calls (msgpack, json, protobuf)' },
  selector: { key: 'selector', kind: 'name', help: 'load-balancing strategy (random, roundrobin, weighted, hash, leastinflight, latency)' },
  server_address: { key: 'serverAddress', kind: 'address', help: 'address the server binds' },
  server_advertise: { key: 'serverAdvertise', kind: 'address', help: 'address announced in the registry' },
  register_ttl: { key: 'registerTtl', kind: 'seconds', help: 'registration TTL (e.g. 90 or 90s)' },
  register_interval: { key: 'registerInterval', kind: 'seconds', help: 're-registration interval (e.g. 30s)' },
  client_retries: { key: 'clientRetries', kind: 'count', help: 'retries after a transport failure' },
  client_request_timeout: { key: 'clientRequestTimeout', kind: 'millis', help: 'call deadline (e.g. 5s, 500ms)' },
  client_pool_size: { key: 'clientPoolSize', kind: 'count', help: 'connections per node' },
  metrics_address: { key: 'metricsAddress', kind: 'address', help: 'serve /metrics here (off unless set)' },
  log_level: { key: 'logLevel', kind: 'level', help: LOG_LEVELS.join('|') },
  log_format: { key: 'logFormat', kind: 'format', help: 'json (one line per event) or pretty (development)' },
};

export const DEFAULTS: Config = {
  registry: 'mdns',
  registryAddress: undefined,
  transport: 'tcp',
  transportAddress: undefined,
  broker: 'p2p',
  brokerAddress: undefined,
  codec: 'msgpack',
  selector: 'random',
  serverAddress: '127.0.0.1:0',
  serverAdvertise: undefined,
  registerTtl: 90,
  registerInterval: 30,
  clientRetries: 1,
  clientRequestTimeout: 5000,
  clientPoolSize: 1,
  metricsAddress: undefined,
  logLevel: 'warn',
  logFormat: 'json',
};

export function envName(flag: string): string {
  return `PHOBOS_${flag.toUpperCase()}`;
}

/** Reads typed flags from argv (unknown flags are left for the application) and env twins, over code options. */
export function resolveConfig(
  code: Partial<Config> = {},
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const options = Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const }]));
  const { values } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true });
  const config: Record<string, unknown> = { ...DEFAULTS };
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const typed = values[flag];
    const fromEnv = env[envName(flag)];
    if (typed === true) throw new ConfigError(`--${flag} needs a value`);
    if (typeof typed === 'string') config[spec.key] = parseValue(`--${flag}`, typed, spec.kind);
    else if (fromEnv !== undefined && fromEnv !== '') config[spec.key] = parseValue(envName(flag), fromEnv, spec.kind);
    else if (code[spec.key] !== undefined) config[spec.key] = checkCodeValue(spec, code[spec.key]);
  }
  const c = config as unknown as Config;
  if (c.registerInterval >= c.registerTtl) {
    throw new ConfigError(`register_interval (${c.registerInterval}s) must be shorter than register_ttl (${c.registerTtl}s)`);
  }
  return c;
}

/** Code options may be given as strings too ("5s"); they get the same checks as typed flags. */
function checkCodeValue(spec: FlagSpec, value: unknown): unknown {
  return typeof value === 'string' ? parseValue(`option ${spec.key}`, value, spec.kind) : value;
}

function parseValue(source: string, raw: string, kind: Kind): unknown {
  const value = raw.trim();
  switch (kind) {
    case 'name':
      if (!/^[a-z0-9][a-z0-9_-]*$/i.test(value)) throw new ConfigError(`${source}: "${raw}" is not a plugin name`);
      return value.toLowerCase();
    case 'address':
      return checkAddresses(source, value);
    case 'seconds':
      return parseDuration(source, value, 1000) / 1000;
    case 'millis':
      return parseDuration(source, value, 1);
    case 'count': {
      if (!/^\d+$/.test(value)) throw new ConfigError(`${source}: "${raw}" is not a whole number`);
      return Number(value);
    }
    case 'level':
      if (!(LOG_LEVELS as readonly string[]).includes(value)) {
        throw new ConfigError(`${source}: "${raw}" is not a log level (${LOG_LEVELS.join(', ')})`);
      }
      return value;
    case 'format':
      if (!(LOG_FORMATS as readonly string[]).includes(value)) {
        throw new ConfigError(`${source}: "${raw}" is not a log format (${LOG_FORMATS.join(', ')})`);
      }
      return value;
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1.5s", "500ms", "2m"; a bare number is in `bareUnit` milliseconds. Returns milliseconds (> 0). */
export function parseDuration(source: string, value: string, bareUnit: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (!m) throw new ConfigError(`${source}: "${value}" is not a duration (e.g. 500ms, 5s, 2m)`);
  const ms = Number(m[1]) * (m[2] ? UNITS[m[2]] : bareUnit);
  if (!(ms > 0) || !Number.isFinite(ms)) throw new ConfigError(`${source}: "${value}" must be more than zero`);
  return ms;
}

/** Comma-separated `host:port` entries (scheme optional); ports must be integers 0-65535. */
function checkAddresses(source: string, value: string): string {
  if (!value) throw new ConfigError(`${source}: empty address`);
  for (const part of value.split(',')) {
    // Scheme, path and any `user:password@` (engine URLs such as amqp://guest:guest@host:5672) are not the port.
    const entry = part.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '').replace(/^.*@/, '');
    const port = /^(?:\[[^\]]*\]|[^:]*):(.*)$/.exec(entry)?.[1];
    if (port === undefined) continue; // a bare host or interface name: the plugin picks the port
    if (!/^\d+$/.test(port) || Number(port) > 65535) {
      throw new ConfigError(`${source}: port "${port}" in "${part.trim()}" is out of range (0-65535)`);
    }
  }
  return value;
}
