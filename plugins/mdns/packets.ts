import type { Answer } from 'dns-packet';
import type { QueryPacket, ResponseOutgoingPacket, ResponsePacket } from 'multicast-dns';
import type { ServiceRecord } from '../../lib/registry/registry';
import { ENUMERATION, SERVICE_TYPE, decodeTxt, hostName, isInstanceName, splitAddress } from './records';
import type { DecodedTxt } from './records';

/** One node we announce: everything needed to answer for it without recomputing per packet. */
export interface Registration {
  /** Instance name as sent (case kept). */
  instance: string;
  /** Lower-cased instance name: DNS names compare case-insensitively, so maps key on this. */
  key: string;
  subtype: string;
  record: ServiceRecord;
  txt: Buffer[];
  /** Seconds. */
  ttl: number;
  timer?: NodeJS.Timeout;
}

/**
 * The response that announces (or, with ttl 0, says goodbye to) one node. One packet per node keeps every packet
 * bounded by one record's size, whatever the number of nodes a process registers.
 *
 * PTR records are shared (many instances per type), so no cache-flush bit; SRV/TXT/A are unique to the instance and
 * carry it (RFC 6762 §10.2).
 */
export function announcement(reg: Registration, ttl: number): ResponseOutgoingPacket {
  const answers: Answer[] = [
    { name: SERVICE_TYPE, type: 'PTR', ttl, data: reg.instance },
    { name: reg.subtype, type: 'PTR', ttl, data: reg.instance },
    { name: reg.instance, type: 'TXT', ttl, flush: true, data: reg.txt },
  ];
  const additionals: Answer[] = [];
  const addr = splitAddress(reg.record.nodes[0].address);
  if (addr) {
    // Only literal IPs get SRV + A/AAAA: a host name in the address is not ours to publish in .local.
    const host = hostName(reg.instance);
    answers.push({ name: reg.instance, type: 'SRV', ttl, flush: true, data: { port: addr.port, target: host } });
    additionals.push({ name: host, type: addr.family === 4 ? 'A' : 'AAAA', ttl, flush: true, data: addr.ip });
  }
  return { type: 'response', answers, additionals };
}

/** Answer to DNS-SD service type enumeration: "this host offers _phobos._tcp". */
export function enumeration(ttl: number): ResponseOutgoingPacket {
  return { type: 'response', answers: [{ name: ENUMERATION, type: 'PTR', ttl, data: SERVICE_TYPE }] };
}

const ASKABLE = new Set(['PTR', 'ANY', 'TXT', 'SRV']);

/** Which of our registrations a query asks about (by type, subtype or instance name), and whether it enumerates types. */
export function asked(packet: QueryPacket, regs: Iterable<Registration>): { answer: Set<Registration>; enumerate: boolean } {
  const names = new Set<string>();
  for (const q of packet.questions ?? []) {
    if (typeof q?.name === 'string' && ASKABLE.has(String(q.type))) names.add(q.name.toLowerCase());
  }
  const answer = new Set<Registration>();
  if (names.size === 0) return { answer, enumerate: false };
  for (const reg of regs) {
    if (names.has(SERVICE_TYPE) || names.has(reg.subtype.toLowerCase()) || names.has(reg.key)) answer.add(reg);
  }
  return { answer, enumerate: names.has(ENUMERATION) };
}

/** What a response says about one instance: `decoded` when announced, absent for a goodbye. */
export interface Heard {
  key: string;
  ttl: number;
  decoded?: DecodedTxt;
}

/**
 * The Phobos content of a response: announcements whose TXT decodes, and goodbyes (TTL 0, on the TXT or on the type
 * PTR, which is all some DNS-SD stacks send). Everything else, other speakers' records included, is skipped.
 */
export function heard(packet: ResponsePacket): Heard[] {
  const out: Heard[] = [];
  for (const a of [...(packet.answers ?? []), ...(packet.additionals ?? [])]) {
    if (typeof a?.name !== 'string' || !('ttl' in a) || typeof a.ttl !== 'number') continue;
    if (a.type === 'TXT' && isInstanceName(a.name)) {
      const key = a.name.toLowerCase();
      if (a.ttl === 0) out.push({ key, ttl: 0 });
      else {
        const decoded = decodeTxt(a.data);
        if (decoded) out.push({ key, ttl: a.ttl, decoded });
      }
    } else if (a.type === 'PTR' && a.ttl === 0 && a.name.toLowerCase() === SERVICE_TYPE && typeof a.data === 'string') {
      out.push({ key: a.data.toLowerCase(), ttl: 0 });
    }
  }
  return out;
}
