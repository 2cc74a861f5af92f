import { TOPIC_SERVICE_PREFIX } from '../../broker/p2p';
import type { NodeRecord, ServiceRecord, WatchAction, WatchEvent } from '../../registry/registry';
import type { Command } from '../command';

/**
 * `phobos watch [service]`: registry changes as they happen, one line per node, until SIGINT.
 *
 * Registries differ in what a new watcher hears first (mDNS browses and reports every node it finds as `create`;
 * etcd reports only later changes), so the command takes a snapshot of the registry as it starts and drops `create`
 * events for nodes already in it: every registry then shows the same thing, changes from now on. `--initial` prints
 * the snapshot first, as `exists` lines.
 */

export type WatchLineAction = WatchAction | 'exists';

export interface WatchLine {
  action: WatchLineAction;
  service: string;
  version: string;
  node?: string;
  address?: string;
  /** ISO time the line was printed. */
  at: string;
}

export const watch: Command = {
  synopsis: 'watch [service]',
  summary: 'registry changes live, one line per node (create, update, delete) until ctrl-c',
  longRunning: true,
  options: {
    initial: { type: 'boolean', help: 'first print the nodes registered now, as `exists` lines' },
    json: { type: 'boolean', help: 'one JSON object per line' },
    all: { type: 'boolean', help: 'include the p2p broker topics' },
  },
  details: ['Line: <action> <service> <version> node <node id> <address>.'],
  async run({ args, options, service, io, interrupted }) {
    const only = args[0];
    const registry = service().registry;
    const watcher = registry.watch(only ? { service: only } : {});
    const stop = () => watcher.stop();
    if (interrupted.aborted) stop();
    interrupted.addEventListener('abort', stop, { once: true });
    const shown = (r: ServiceRecord) => (only ? r.name === only : options.all === true || !r.name.startsWith(TOPIC_SERVICE_PREFIX));
    const print = (action: WatchLineAction, record: ServiceRecord, node: NodeRecord | undefined) => {
      const line = watchLine(action, record, node);
      io.out.write(`${options.json === true ? JSON.stringify(line) : formatWatchLine(line)}\n`);
    };

    // The watcher is open before the snapshot is taken, so nothing that happens meanwhile is missed.
    const known = new Set<string>();
    for (const record of (await registry.listServices()).filter(shown)) {
      for (const node of record.nodes) {
        known.add(nodeKey(record, node));
        if (options.initial === true) print('exists', record, node);
      }
    }
    io.err.write(`phobos: watching ${only ?? 'every service'} (ctrl-c stops)\n`);

    for await (const event of watcher) {
      if (!shown(event.service)) continue;
      for (const { action, node } of perNode(event)) {
        const key = node && nodeKey(event.service, node);
        if (key && action === 'create' && known.has(key)) continue;
        if (key && action === 'delete') known.delete(key);
        else if (key) known.add(key);
        print(action, event.service, node);
      }
    }
    return 0;
  },
};

function nodeKey(record: ServiceRecord, node: NodeRecord): string {
  return `${record.name}\0${record.version}\0${node.id}`;
}

/** A registry event names one node or several (or, for a whole service gone, none): one line each. */
function perNode(event: WatchEvent): { action: WatchAction; node: NodeRecord | undefined }[] {
  if (event.service.nodes.length === 0) return [{ action: event.action, node: undefined }];
  return event.service.nodes.map((node) => ({ action: event.action, node }));
}

export function watchLine(action: WatchLineAction, record: ServiceRecord, node: NodeRecord | undefined, at = new Date()): WatchLine {
  const line: WatchLine = { action, service: record.name, version: record.version, at: at.toISOString() };
  if (node) {
    line.node = node.id;
    line.address = node.address;
  }
  return line;
}

/** `create greeter 1.0.0 node greeter-abc 127.0.0.1:1234`. */
export function formatWatchLine(l: WatchLine): string {
  return `${l.action} ${l.service} ${l.version}${l.node ? ` node ${l.node} ${l.address}` : ''}`;
}
