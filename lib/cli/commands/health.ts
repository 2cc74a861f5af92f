import { CODEC_IDS, type CodecTable } from '../../codec';
import { withDeadline } from '../../deadlines';
import { RpcError } from '../../errors';
import type { NodeRecord, ServiceRecord } from '../../registry/registry';
import { HEALTH_ENDPOINT, type HealthReport } from '../../server/server';
import { MessageKind, type ClientSocket, type Message, type Transport } from '../../transport/transport';
import { parseDuration } from '../../flags';
import { CliError } from '../args';
import { printJson, type Command } from '../command';
import { decodeReply } from '../../client/scope';

/**
 * `phobos health <service>`: asks every node of the service, directly (no selector, no retry, no breaker: each node
 * answers for itself), its reserved health endpoint, and prints one line per node. Exit 0 only when every node is
 * serving.
 */

export type NodeStatus = 'serving' | 'draining' | 'timeout' | 'unreachable' | 'error';

export interface NodeHealth {
  node: string;
  address: string;
  version: string;
  status: NodeStatus;
  inFlight?: number;
  /** Seconds. */
  uptime?: number;
  /** Milliseconds, dial excluded: the round trip of the probe itself. */
  rtt?: number;
  detail?: string;
}

export const health: Command = {
  synopsis: 'health <service>',
  summary: 'ask every node of a service how it is: serving, draining, or not answering',
  options: {
    timeout: { type: 'string', value: 'duration', help: 'how long each node gets to answer, dial included (2s)' },
    json: { type: 'boolean', help: 'print the results as JSON' },
  },
  details: [
    'One line per node: <node id>  <address>  <status>  inflight <n>  uptime <t>  rtt <ms>.',
    'Exit code 0 when every node is serving; 1 when any is draining, unreachable, slow past --timeout, or the',
    'service is unknown.',
  ],
  async run({ args, options, service, io }) {
    const name = args[0];
    if (!name) throw new CliError('health needs a service name');
    const timeoutMs = typeof options.timeout === 'string' ? parseDuration('--timeout', options.timeout, 1) : 2000;
    const svc = service();
    const versions = await findService(svc.registry, name);
    const nodes = versions.flatMap((r) => r.nodes.map((n) => ({ ...n, version: r.version })));
    if (nodes.length === 0) throw new CliError(`service ${name} not found`);
    const results = await Promise.all(nodes.map((n) => probeNode(svc.transport, svc.codecs, name, n, timeoutMs)));
    if (options.json === true) printJson(io, results);
    else for (const line of formatHealth(results)) io.out.write(`${line}\n`);
    return results.every((r) => r.status === 'serving') ? 0 : 1;
  },
};

/**
 * Every version of `name` with its nodes. A full listing first, because on multicast registries it gathers answers
 * for longer than a lookup does and so finds every node; a lookup when the listing has none.
 */
async function findService(registry: { listServices(): Promise<ServiceRecord[]>; getService(n: string): Promise<ServiceRecord[]> }, name: string) {
  const listed = (await registry.listServices()).filter((r) => r.name === name && r.nodes.length > 0);
  return listed.length ? listed : registry.getService(name);
}

export async function probeNode(
  transport: Transport,
  codecs: CodecTable,
  service: string,
  node: NodeRecord & { version: string },
  timeoutMs: number,
): Promise<NodeHealth> {
  const base = { node: node.id, address: node.address, version: node.version };
  const servedOver = node.metadata?.transport;
  if (servedOver && servedOver !== transport.name) {
    return { ...base, status: 'error', detail: `served over ${servedOver}; run with --transport=${servedOver}` };
  }
  const deadline = performance.now() + timeoutMs;
  let socket: ClientSocket | undefined;
  try {
    let late = false;
    const dialing = transport.dial(node.address, { connectTimeout: timeoutMs });
    // A dial that outlives the deadline must not leave its socket open once it does connect.
    dialing.then((s) => late && s.close(), () => undefined);
    socket = await withDeadline(dialing, timeoutMs, () => {
      late = true;
      return new RpcError('phobos.cli', 408, `no connection within ${timeoutMs} ms`);
    });
    const remaining = Math.max(1, Math.round(deadline - performance.now()));
    const json = codecs.get(CODEC_IDS.json)!;
    const message: Message = {
      kind: MessageKind.request,
      id: 0,
      codec: json.id,
      service,
      endpoint: HEALTH_ENDPOINT,
      timeout: remaining,
      metadata: undefined,
      error: false,
      body: json.encode({}),
    };
    const sent = performance.now();
    const reply = await socket.request(message, { timeout: remaining });
    const rtt = performance.now() - sent;
    const decoded = decodeReply(codecs, reply, service, HEALTH_ENDPOINT);
    if (reply.error) throw RpcError.from(decoded as RpcError);
    const report = decoded as HealthReport;
    const status: NodeStatus = report.status === 'serving' || report.status === 'draining' ? report.status : 'error';
    return { ...base, status, inFlight: report.inFlight, uptime: report.uptime, rtt: Math.round(rtt * 1000) / 1000 };
  } catch (err) {
    const e = RpcError.from(err as RpcError);
    const status: NodeStatus = e.code === 408 ? 'timeout' : e.code === 503 || e.code === 502 ? 'unreachable' : 'error';
    return { ...base, status, detail: status === 'timeout' ? `no answer within ${timeoutMs} ms` : `${e.code} ${e.detail}` };
  } finally {
    socket?.close();
  }
}

/** Aligned lines, one per node, sorted by node id. */
export function formatHealth(results: NodeHealth[]): string[] {
  const sorted = [...results].sort((a, b) => a.node.localeCompare(b.node));
  const idWidth = Math.max(...sorted.map((r) => r.node.length));
  const addrWidth = Math.max(...sorted.map((r) => r.address.length));
  return sorted.map((r) => {
    const head = `${r.node.padEnd(idWidth)}  ${r.address.padEnd(addrWidth)}  ${r.status.padEnd(11)}`;
    if (r.detail !== undefined) return `${head}  ${r.detail}`;
    return `${head}  inflight ${r.inFlight}  uptime ${formatUptime(r.uptime ?? 0)}  rtt ${formatRtt(r.rtt ?? 0)}`;
  });
}

/** 42s, 3m07s, 2h05m, 3d04h. */
export function formatUptime(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** 0.42ms, 12.3ms, 150ms. */
export function formatRtt(ms: number): string {
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 100) return `${ms.toFixed(1)}ms`;
  return `${Math.round(ms)}ms`;
}
