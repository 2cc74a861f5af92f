import type { Codec, CodecTable } from '../../lib/codec';

/**
 * Content negotiation, kept simple: the request's Content-Type picks the codec that decodes it (any codec the
 * service's CodecTable knows: application/json, application/msgpack, application/protobuf when that plugin is
 * loaded); the reply goes in the same codec unless Accept names another known one. Accept is read in order, q-values
 * other than 0 are not ranked: the first acceptable entry wins; `*` wildcards mean "the request's codec".
 */

export const EVENT_STREAM = 'text/event-stream';

/** The media type without parameters, lowercased: `application/json; charset=utf-8` is `application/json`. */
export function mediaType(header: string | undefined): string {
  if (!header) return '';
  const semi = header.indexOf(';');
  return (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
}

/** The codec for a request Content-Type; a missing type counts as JSON. Undefined: 415. */
export function requestCodec(codecs: CodecTable, contentType: string | undefined): Codec | undefined {
  const type = mediaType(contentType);
  return codecs.byContentType(type || 'application/json');
}

/** The codec to answer in, or undefined when Accept allows none we have (406). */
export function replyCodec(codecs: CodecTable, accept: string | undefined, fallback: Codec): Codec | undefined {
  if (!accept) return fallback;
  for (const entry of accept.split(',')) {
    const semi = entry.indexOf(';');
    if (semi >= 0 && /;\s*q\s*=\s*0(?:\.0*)?\s*(?:;|$)/.test(entry.slice(semi))) continue;
    const type = mediaType(entry);
    if (type === '*/*' || type === '') return fallback;
    if (type === fallback.contentType) return fallback;
    if (type.endsWith('/*') && fallback.contentType.startsWith(type.slice(0, -1))) return fallback;
    const named = codecs.byContentType(type);
    if (named) return named;
  }
  return undefined;
}

/** True when Accept asks for an event stream. */
export function wantsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes(EVENT_STREAM);
}
