import { createHash, randomBytes } from 'node:crypto';

/**
 * Subject and JetStream names used by the NATS plugins, in one place so docs/protocol.md has one thing to describe.
 *
 *   phobos.rpc.<service>.<random>   one node's requests (and cancels); what the registry announces as its address
 *   phobos.svc.<service>            a service's requests, queue group <service>: NATS picks one node per request
 *   phobos.cancel.<service>         cancels of requests sent to phobos.svc.<service>; every node hears them
 *   phobos.registry.{watch,query}   registry announcements and queries (prefix configurable)
 */

export const RPC_PREFIX = 'phobos.rpc.';
export const SERVICE_PREFIX = 'phobos.svc.';
export const CANCEL_PREFIX = 'phobos.cancel.';

/**
 * A service name as subject tokens: dots stay (they make hierarchy, `go.micro.greeter` is fine), while characters a
 * subject may not hold (whitespace, wildcards) and empty tokens become `_`.
 */
export function subjectTokens(name: string): string {
  const tokens = name.split('.').map((t) => t.replace(/[\s*>]/g, '_') || '_');
  return tokens.join('.');
}

export function nodeSubject(service: string | undefined): string {
  return `${RPC_PREFIX}${subjectTokens(service || 'node')}.${randomBytes(8).toString('hex')}`;
}

export function serviceSubject(service: string): string {
  return `${SERVICE_PREFIX}${subjectTokens(service)}`;
}

export function serviceCancelSubject(service: string): string {
  return `${CANCEL_PREFIX}${subjectTokens(service)}`;
}

/** Where a cancel for a request sent to `subject` goes: the node itself, or every node of the service. */
export function cancelSubjectFor(subject: string): string {
  return subject.startsWith(SERVICE_PREFIX) ? CANCEL_PREFIX + subject.slice(SERVICE_PREFIX.length) : subject;
}

/** True for what listen() takes as a subject rather than a host:port to ignore. */
export function isSubject(address: string): boolean {
  return address.length > 0 && !address.includes(':') && !/[\s*>]/.test(address) && !address.split('.').includes('');
}

/**
 * JetStream names (streams, consumers) may not hold `.`, `*`, `>`, whitespace or path separators. Readable part plus
 * a short hash of the original, so `a.b` and `a_b` never share a stream.
 */
export function jetStreamName(prefix: string, raw: string): string {
  const readable = raw.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  return `${prefix}${readable}_${hash}`;
}
