import { ConfigError } from '../flags';
import { createService, waitForSignal, type PhobosService } from '../service';

/**
 * `phobos gateway [--address 127.0.0.1:8080] [--cors[=origin,origin]] [--body_limit 1mb] [--header_prefix x-phobos-]`
 * plus the usual service flags (--registry, --transport...): a client-only service with the HTTP gateway in front of
 * it, until SIGINT or SIGTERM. The gateway lives in plugins/http, loaded here at run time: lib never imports plugins.
 */

/** What this command uses of plugins/http, typed here so lib has no dependency on the plugin's types either. */
interface GatewayPlugin {
  startGateway(service: PhobosService, options: GatewayFlags): Promise<{ address: string; close(): Promise<void> }>;
}

const OWN_FLAGS = ['address', 'cors', 'body_limit', 'header_prefix'] as const;

export interface GatewayCommandOptions {
  /** Stop when this settles instead of on SIGINT/SIGTERM (tests). */
  until?: Promise<unknown>;
  /** Where the "listening" line goes (default stdout). */
  print?: (line: string) => void;
}

export interface GatewayFlags {
  address?: string;
  cors?: boolean | { origins: string[] };
  bodyLimit?: number;
  headerPrefix?: string;
}

/** Reads the gateway's own flags; the rest of argv is left for the service. */
export function parseGatewayFlags(argv: readonly string[]): { flags: GatewayFlags; rest: string[] } {
  const rest: string[] = [];
  const values: Partial<Record<(typeof OWN_FLAGS)[number], string | true>> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = (a.startsWith('--') ? a.slice(2, eq < 0 ? undefined : eq) : '') as (typeof OWN_FLAGS)[number];
    if (!OWN_FLAGS.includes(name)) {
      rest.push(a);
      continue;
    }
    if (eq >= 0) values[name] = a.slice(eq + 1);
    // A bare --cors is a switch; every other flag takes the next argument as its value.
    else if (name === 'cors') values[name] = true;
    else if (i + 1 < argv.length) values[name] = argv[++i];
    else throw new ConfigError(`--${name} needs a value`);
  }
  const flags: GatewayFlags = {};
  if (typeof values.address === 'string') flags.address = values.address;
  if (values.cors === true || values.cors === '' || values.cors === '*') flags.cors = true;
  else if (typeof values.cors === 'string') flags.cors = { origins: values.cors.split(',').map((o) => o.trim()).filter(Boolean) };
  if (typeof values.body_limit === 'string') flags.bodyLimit = parseBytes(values.body_limit);
  if (typeof values.header_prefix === 'string') flags.headerPrefix = values.header_prefix;
  return { flags, rest };
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 };

/** `1048576`, `512kb`, `1mb`, `2MiB` (binary units) into bytes. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = BYTE_UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined || !(Number(m[1]) > 0)) throw new ConfigError(`--body_limit: "${text}" is not a size such as 1048576, 512kb or 1mb`);
  return Math.floor(Number(m[1]) * unit);
}

export async function gatewayCommand(argv: string[], command: GatewayCommandOptions = {}): Promise<void> {
  const print = command.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  let parsed: ReturnType<typeof parseGatewayFlags>;
  try {
    parsed = parseGatewayFlags(argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`phobos: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  const service = createService({ name: 'phobos-gateway', argv: parsed.rest });
  const { startGateway } = require('../../plugins/http') as GatewayPlugin;
  // Signal handlers first: a signal while starting still stops cleanly.
  const stopped = command.until ?? waitForSignal();
  await service.start();
  let gateway;
  try {
    gateway = await startGateway(service, parsed.flags);
  } catch (err) {
    await service.stop();
    throw err;
  }
  print(`gateway listening on http://${gateway.address}`);
  await stopped;
  await gateway.close();
  await service.stop();
}
