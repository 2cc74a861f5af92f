import type { Codec, CodecTable } from '../codec';
import type { Context } from '../context';
import { errors } from '../errors';
import type { Message, Metadata } from '../transport/transport';

/**
 * What every call works out before it goes anywhere, unary or streaming: its one deadline (never past the parent
 * request's) and its metadata (the parent's, overlaid by the call's own), and how an answer frame is decoded.
 */

/** Epoch ms the call must be over by: `now + timeout`, or the parent request's deadline when that is sooner. */
export function callDeadline(now: number, timeout: number, parent: Context | undefined): number {
  const own = now + timeout;
  return parent && parent.deadline > 0 && parent.deadline < own ? parent.deadline : own;
}

export function mergeMetadata(inherited: Metadata | undefined, own: Metadata | undefined): Metadata | undefined {
  if (!inherited || Object.keys(inherited).length === 0) return own;
  if (!own) return inherited;
  return { ...inherited, ...own };
}

/** The codec a call names, or the client's default; an unknown name is a 400. */
export function codecFor(codecs: CodecTable, name: string | undefined, fallback: Codec): Codec {
  if (!name) return fallback;
  const c = codecs.named(name);
  if (!c) throw errors.badRequest('phobos.client', `unknown codec "${name}"`);
  return c;
}

/** Decodes an answer frame's body with the codec it names (the reply of `service.endpoint`). */
export function decodeReply(codecs: CodecTable, m: Message, service: string, endpoint: string): unknown {
  const codec = codecs.get(m.codec);
  if (!codec) throw errors.internal('phobos.client', `reply in unknown codec id ${m.codec}`);
  return codec.decode(m.body, service, endpoint, 'response');
}
