import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { EndpointRecord, NodeRecord, ServiceRecord } from '../../lib/registry/registry';

/**
 * The DNS side of the mdns registry: how a node is named, and how its service record travels in a TXT record.
 *
 * Every registered node is one DNS-SD instance of the service type `_phobos._tcp.local`. Its TXT record carries the
 * whole per-node ServiceRecord (endpoints with their JSON Schemas included), so a receiver needs nothing but the TXT
 * to build its view. SRV and A/AAAA are sent too, so stock tools (avahi-browse, dns-sd) can see Phobos nodes.
 */

export const SERVICE_TYPE = '_phobos._tcp.local';
export const SERVICE_SUFFIX = '.' + SERVICE_TYPE;
/** DNS-SD service type enumeration; answering it lets `avahi-browse -a` list us. */
export const ENUMERATION = '_services._dns-sd._udp.local';

/** Version of the TXT layout below; a receiver ignores records of a layout it does not know. */
const LAYOUT = '1';
/** A TXT character-string holds at most 255 bytes (its length is one byte); "d=" takes two of them. */
const CHUNK = 253;
/** Small records stay plain JSON, readable in packet dumps; bigger ones are gzipped (schemas compress ~5x). */
const GZIP_ABOVE = 512;
/** Decompression bomb guard: no honest record is anywhere near this. */
const MAX_JSON = 1024 * 1024;
/** RFC 6762 §17: an mDNS message may be up to 9000 bytes. Above this we warn (LAN links fragment it). */
export const TXT_WARN_BYTES = 8800;
/** A UDP datagram cannot exceed 65507 bytes; leave room for the other records of the packet. */
export const TXT_MAX_BYTES = 60000;

const D = 0x64; // 'd'
const EQ = 0x3d; // '='

/** A DNS label is at most 63 bytes and must not contain dots (dns-packet splits names on them and checks nothing). */
function label(text: string, hashed: string, max = 63): string {
  const hash = createHash('sha1').update(hashed).digest('hex').slice(0, 8);
  const safe = text.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, max - hash.length - 1);
  return `${safe}-${hash}`;
}

/**
 * The instance name of a node. The hash covers name, version and node id, so the same node id registered under two
 * versions gives two instances rather than one that flips between them. The readable prefix is for packet dumps.
 */
export function instanceName(service: string, version: string, nodeId: string): string {
  return `${label(nodeId, `${service}\0${version}\0${nodeId}`)}${SERVICE_SUFFIX}`;
}

/** DNS-SD subtype per service name, so getService(name) asks only the nodes of that service to answer. */
export function subtypeName(service: string): string {
  return `_${label(service, service, 62)}._sub${SERVICE_SUFFIX}`;
}

/** The host name the SRV points at, for tools; Phobos itself reads the address from the TXT. */
export function hostName(instance: string): string {
  return `${instance.slice(0, instance.indexOf('.'))}.local`;
}

/** True for `<label>._phobos._tcp.local` (one label before the type, not a `_sub` name). */
export function isInstanceName(name: string): boolean {
  const lower = name.toLowerCase();
  if (!lower.endsWith(SERVICE_SUFFIX)) return false;
  const first = lower.slice(0, lower.length - SERVICE_SUFFIX.length);
  return first.length > 0 && !first.includes('.') && !first.startsWith('_');
}

/** Splits `host:port` / `[v6]:port`; undefined when the address is not a literal IP with a port. */
export function splitAddress(address: string): { ip: string; family: 4 | 6; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[2]);
  const family = isIP(m[1]);
  if (!family || port < 1 || port > 65535) return undefined;
  return { ip: m[1], family: family as 4 | 6, port };
}

/** The record of one node of `service`: what a single instance's TXT carries. */
export function nodeRecord(service: ServiceRecord, node: NodeRecord): ServiceRecord {
  return {
    name: service.name,
    version: service.version,
    metadata: service.metadata ?? {},
    endpoints: service.endpoints ?? [],
    nodes: [{ id: node.id, address: node.address, metadata: node.metadata ?? {} }],
  };
}

/**
 * Encodes a per-node record as TXT strings: `phobos=1`, `src=<registry id>`, `enc=json|gzip`, then the payload in
 * order as `d=<bytes>` chunks. TXT strings are length-prefixed bytes, so gzip output goes in raw, no base64 needed.
 * `src` lets a registry recognise its own announcements coming back over the loopback.
 */
export function encodeTxt(record: ServiceRecord, src: string): Buffer[] {
  let payload = Buffer.from(JSON.stringify(record), 'utf8');
  const gzip = payload.length > GZIP_ABOVE;
  if (gzip) payload = gzipSync(payload);
  const out: Buffer[] = [Buffer.from(`phobos=${LAYOUT}`), Buffer.from(`src=${src}`), Buffer.from(`enc=${gzip ? 'gzip' : 'json'}`)];
  for (let i = 0; i < payload.length; i += CHUNK) {
    out.push(Buffer.concat([Buffer.from('d='), payload.subarray(i, i + CHUNK)]));
  }
  return out;
}

/** The wire size of TXT strings (one length byte each). */
export function txtBytes(txt: Buffer[]): number {
  return txt.reduce((n, b) => n + 1 + b.length, 0);
}

export interface DecodedTxt {
  record: ServiceRecord;
  src: string;
}

/**
 * Decodes what encodeTxt produced; null for anything else (other mDNS speakers, other layouts, corrupt or hostile
 * data). Never throws: it runs on every packet heard on the network.
 */
export function decodeTxt(data: unknown): DecodedTxt | null {
  try {
    const strings = Array.isArray(data) ? data : [data];
    const chunks: Buffer[] = [];
    const keys = new Map<string, string>();
    for (const s of strings) {
      const b = Buffer.isBuffer(s) ? s : typeof s === 'string' ? Buffer.from(s) : undefined;
      if (!b) return null;
      if (b.length >= 2 && b[0] === D && b[1] === EQ) chunks.push(b.subarray(2));
      else {
        const text = b.toString('utf8');
        const eq = text.indexOf('=');
        if (eq > 0) keys.set(text.slice(0, eq), text.slice(eq + 1));
      }
    }
    if (keys.get('phobos') !== LAYOUT || chunks.length === 0) return null;
    const enc = keys.get('enc');
    let payload = Buffer.concat(chunks);
    if (enc === 'gzip') payload = gunzipSync(payload, { maxOutputLength: MAX_JSON });
    else if (enc !== 'json') return null;
    if (payload.length > MAX_JSON) return null;
    const record: unknown = JSON.parse(payload.toString('utf8'));
    if (!isNodeRecord(record)) return null;
    return { record, src: keys.get('src') ?? '' };
  } catch {
    return null;
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isStringMap(x: unknown): x is Record<string, string> {
  return isObject(x) && Object.values(x).every((v) => typeof v === 'string');
}

function isEndpoint(x: unknown): x is EndpointRecord {
  return (
    isObject(x) &&
    typeof x.name === 'string' &&
    (x.request === undefined || isObject(x.request)) &&
    (x.response === undefined || isObject(x.response)) &&
    (x.metadata === undefined || isStringMap(x.metadata))
  );
}

/** A record we are willing to hand to callers: well typed, exactly one node (one instance = one node). */
function isNodeRecord(x: unknown): x is ServiceRecord {
  if (!isObject(x)) return false;
  if (typeof x.name !== 'string' || !x.name || typeof x.version !== 'string') return false;
  if (!isStringMap(x.metadata) || !Array.isArray(x.endpoints) || !x.endpoints.every(isEndpoint)) return false;
  if (!Array.isArray(x.nodes) || x.nodes.length !== 1) return false;
  const n: unknown = x.nodes[0];
  return isObject(n) && typeof n.id === 'string' && !!n.id && typeof n.address === 'string' && isStringMap(n.metadata);
}
