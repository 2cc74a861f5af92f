#!/usr/bin/env node
import 'reflect-metadata';
import { createService } from '../service';
import { RpcError } from '../errors';
import { FLAGS } from '../flags';
import { TOPIC_SERVICE_PREFIX } from '../broker/p2p';
import type { ServiceRecord } from '../registry/registry';

/**
 * `phobos`: look at and talk to running services with the same flags the services take (--registry, --transport...).
 *   phobos list                               services in the registry (--all includes broker topics)
 *   phobos describe <service>                 versions, endpoints with their JSON Schemas, nodes
 *   phobos call <service> <endpoint> '<json>' one call; prints the reply as JSON
 *   phobos publish <topic> '<json>'           one event
 */

const USAGE = `usage: phobos <command> [args] [--flags]
commands:
  list                                services in the registry (--all also lists broker topics)
  describe <service>                  versions, endpoints and nodes of a service
  call <service> <endpoint> [json]    call an endpoint with a JSON request; prints the JSON reply
  publish <topic> [json]              publish a JSON event
flags (env twins PHOBOS_<FLAG>):
${Object.entries(FLAGS)
  .map(([f, s]) => `  --${f.padEnd(24)} ${s.help}`)
  .join('\n')}
  --timeout <duration>                same as --client_request_timeout`;

function fail(message: string, code = 1): never {
  process.stderr.write(`phobos: ${message}\n`);
  process.exit(code);
}

function parseJson(text: string | undefined, what: string): unknown {
  if (text === undefined || text === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    fail(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function positionals(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      // `--flag value` form: skip the value of known flags.
      const name = a.slice(2);
      if (!name.includes('=') && (FLAGS[name] || name === 'timeout')) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const [command, ...args] = positionals(argv);
  if (!command || command === 'help' || argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const timeoutIdx = argv.findIndex((a) => a === '--timeout' || a.startsWith('--timeout='));
  const flagArgv = timeoutIdx >= 0 ? argv.map((a) => a.replace(/^--timeout(?==|$)/, '--client_request_timeout')) : argv;
  const service = createService({ name: 'phobos-cli', argv: flagArgv });
  const print = (v: unknown) => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  try {
    switch (command) {
      case 'list': {
        const all = argv.includes('--all');
        const services = (await service.registry.listServices()).filter((s) => all || !s.name.startsWith(TOPIC_SERVICE_PREFIX));
        const rows = summarize(services);
        if (rows.length === 0) process.stdout.write('no services found\n');
        for (const r of rows) process.stdout.write(`${r}\n`);
        break;
      }
      case 'describe': {
        if (!args[0]) fail('describe needs a service name');
        const versions = await service.registry.getService(args[0]);
        if (versions.length === 0) fail(`service ${args[0]} not found`);
        print(versions);
        break;
      }
      case 'call': {
        if (!args[0] || !args[1]) fail("call needs <service> <endpoint> ['<json>']");
        print(await service.client.call(args[0], args[1], parseJson(args[2], 'the request')));
        break;
      }
      case 'publish': {
        if (!args[0]) fail("publish needs <topic> ['<json>']");
        await service.publish(args[0], parseJson(args[1], 'the event'));
        process.stdout.write(`published to ${args[0]}\n`);
        break;
      }
      default:
        fail(`unknown command "${command}"\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof RpcError) {
      process.stderr.write(`${JSON.stringify(err.toJSON())}\n`);
      process.exitCode = 1;
    } else throw err;
  } finally {
    await service.stop();
  }
}

function summarize(services: ServiceRecord[]): string[] {
  const byName = new Map<string, { versions: Set<string>; nodes: number }>();
  for (const s of services) {
    const e = byName.get(s.name) ?? { versions: new Set<string>(), nodes: 0 };
    e.versions.add(s.version);
    e.nodes += s.nodes.length;
    byName.set(s.name, e);
  }
  return [...byName.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, e]) => `${name}\tversions: ${[...e.versions].join(', ')}\tnodes: ${e.nodes}`);
}

if (require.main === module) {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (err) => fail((err as Error).message),
  );
}
