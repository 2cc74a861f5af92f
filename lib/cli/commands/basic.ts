import { TOPIC_SERVICE_PREFIX } from '../../broker/p2p';
import type { ServiceRecord } from '../../registry/registry';
import { CliError } from '../args';
import { printJson, type Command } from '../command';

/** The first four commands: list, describe, call, publish. */

export function parseJson(text: string | undefined, what: string): unknown {
  if (text === undefined || text === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

export const list: Command = {
  synopsis: 'list',
  summary: 'services in the registry (--all also lists broker topics)',
  options: { all: { type: 'boolean', help: 'include the p2p broker topics' } },
  async run({ service, options, io }) {
    const all = options.all === true;
    const services = (await service().registry.listServices()).filter((s) => all || !s.name.startsWith(TOPIC_SERVICE_PREFIX));
    const rows = summarize(services);
    if (rows.length === 0) io.out.write('no services found\n');
    for (const r of rows) io.out.write(`${r}\n`);
    return 0;
  },
};

export const describeService: Command = {
  synopsis: 'describe <service>',
  summary: 'versions, endpoints and nodes of a service',
  options: {},
  async run({ service, args, io }) {
    if (!args[0]) throw new CliError('describe needs a service name');
    const versions = await service().registry.getService(args[0]);
    if (versions.length === 0) throw new CliError(`service ${args[0]} not found`);
    printJson(io, versions);
    return 0;
  },
};

export const call: Command = {
  synopsis: 'call <service> <endpoint> [json]',
  summary: 'call an endpoint with a JSON request; prints the JSON reply',
  details: ['A failed call prints the error record as JSON on stderr and exits 1.'],
  options: {},
  async run({ service, args, io }) {
    if (!args[0] || !args[1]) throw new CliError("call needs <service> <endpoint> ['<json>']");
    const request = parseJson(args[2], 'the request');
    printJson(io, await service().client.call(args[0], args[1], request));
    return 0;
  },
};

export const publish: Command = {
  synopsis: 'publish <topic> [json]',
  summary: 'publish a JSON event',
  options: {},
  async run({ service, args, io }) {
    if (!args[0]) throw new CliError("publish needs <topic> ['<json>']");
    const event = parseJson(args[1], 'the event');
    await service().publish(args[0], event);
    io.out.write(`published to ${args[0]}\n`);
    return 0;
  },
};

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
