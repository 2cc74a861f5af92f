import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Codec } from '../../lib/codec';
import type { CallOptions, ClientStream } from '../../lib/client/types';
import { RpcError } from '../../lib/errors';
import type { GatewayCore } from './core';
import { callError, gatewayError } from './errors';
import { dropUnsafeKeys, parseJson } from './json';
import { findEndpoint, streamKind } from './lookup';
import { acceptBody, acceptHeaders, hasBody } from './intake';
import { replyCodec, requestCodec, wantsEventStream } from './negotiate';
import { JSON_TYPE, send } from './reply';
import { sendEventStream } from './sse';

/**
 * `POST /{service}/{endpoint}`: one call through the service's client, so it goes through the selector, the fail
 * modes, breakers and call wrappers like any other call. In order: headers (metadata, request id, timeout), what the
 * body announces (415, 413: before reading), the body (413, 408, gzip), the registry lookup (404), decoding (400),
 * the call, the answer in the negotiated codec, or an event stream for streaming endpoints.
 *
 * Streaming endpoints: a server stream answers `Accept: text/event-stream` with server-sent events (sse.ts); so does
 * `GET /{service}/{endpoint}?request=<json>`, because a browser's EventSource can only GET. A client stream takes a
 * JSON array as its request messages and answers once; a bidi stream takes the array and answers with events.
 */

export async function handleCall(core: GatewayCore, req: IncomingMessage, res: ServerResponse, service: string, endpoint: string): Promise<void> {
  const { options } = core;
  const codecs = core.service.codecs;
  const viaGet = req.method === 'GET';
  const headers = acceptHeaders(core, req, res);
  if (!headers) return;

  // The lookup runs while the body arrives; a warm one is a Map read.
  const found = findEndpoint(core.service.cache, service, endpoint);
  found.catch(() => {});
  let codec: Codec;
  let raw: Buffer | undefined;
  if (viaGet) {
    codec = codecs.byContentType(JSON_TYPE)!;
    raw = Buffer.from(queryParam(req.url ?? '', 'request') ?? '', 'utf8');
  } else {
    const c = requestCodec(codecs, req.headers['content-type']);
    if (!c) {
      const detail = `Content-Type "${req.headers['content-type']}" is not one this gateway reads (${knownTypes(core)})`;
      return core.fail(req, res, gatewayError(415, detail), { close: hasBody(req) });
    }
    codec = c;
    raw = await acceptBody(core, req, res);
    if (!raw) return;
  }

  let kind: string | undefined;
  let request: unknown;
  try {
    kind = streamKind(await found);
    if (viaGet && kind !== 'server') {
      return core.fail(req, res, gatewayError(405, `GET is for server-streaming endpoints; ${service}.${endpoint} takes POST`), { headers: { allow: 'POST' } });
    }
    request = decodeRequest(codec, raw, service, endpoint);
  } catch (err) {
    return core.fail(req, res, err as RpcError);
  }

  const streamsOut = kind === 'server' || kind === 'bidi';
  const streamsIn = kind === 'client' || kind === 'bidi';
  const answerCodec = streamsOut ? codec : replyCodec(codecs, req.headers.accept, codec);
  if (streamsOut && !wantsEventStream(req.headers.accept)) {
    return core.fail(req, res, gatewayError(406, `${service}.${endpoint} streams its replies: ask with Accept: text/event-stream`));
  }
  if (!answerCodec) return core.fail(req, res, gatewayError(406, `none of Accept "${req.headers.accept}" is a type this gateway writes (${knownTypes(core)})`));
  if (streamsIn && !Array.isArray(request)) {
    return core.fail(req, res, gatewayError(400, `${service}.${endpoint} takes a stream of requests: send a JSON array of them`));
  }

  const deadline = Date.now() + headers.timeout;
  const aborter = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) aborter.abort();
  };
  res.once('close', onClose);
  const callOptions: CallOptions = { metadata: headers.metadata, timeout: headers.timeout, signal: aborter.signal };
  const client = core.service.client;
  let result: unknown;
  try {
    result = streamsIn
      ? await client.stream(service, endpoint, fromArray(request as unknown[]), callOptions)
      : await client.call(service, endpoint, request, callOptions);
  } catch (err) {
    res.off('close', onClose);
    return core.fail(req, res, callError(err, deadline));
  }
  res.off('close', onClose);
  if (streamsOut) return sendEventStream(core, res, result as ClientStream<unknown>, deadline);
  let body: Uint8Array;
  try {
    body = result === undefined ? EMPTY : answerCodec.name === 'json' ? Buffer.from(JSON.stringify(result)) : answerCodec.encode(result, service, endpoint, 'response');
  } catch (err) {
    return core.fail(req, res, gatewayError(500, `cannot encode the reply as ${answerCodec.name}: ${(err as Error).message}`));
  }
  // A handler that returns nothing answers 204: an empty body is not valid JSON.
  if (body.length === 0) {
    res.writeHead(204);
    res.end();
    return;
  }
  send(req, res, 200, body, answerCodec.contentType, options);
}

const EMPTY = new Uint8Array(0);

/** JSON through the pollution-safe parser; other codecs decode, then lose the same unsafe keys. */
export function decodeRequest(codec: Codec, raw: Buffer, service: string, endpoint: string): unknown {
  if (codec.name === 'json') return parseJson(raw.toString('utf8'));
  if (raw.length === 0) return undefined;
  let value: unknown;
  try {
    value = codec.decode(raw, service, endpoint, 'request');
  } catch (err) {
    throw gatewayError(400, `malformed ${codec.name} body: ${(err as Error).message}`);
  }
  return dropUnsafeKeys(value);
}

function knownTypes(core: GatewayCore): string {
  return ['json', 'msgpack', 'protobuf']
    .map((n) => core.service.codecs.named(n)?.contentType)
    .filter(Boolean)
    .join(', ');
}

function queryParam(url: string, name: string): string | null {
  const q = url.indexOf('?');
  return q < 0 ? null : new URLSearchParams(url.slice(q + 1)).get(name);
}

async function* fromArray(items: unknown[]): AsyncGenerator<unknown> {
  for (const item of items) yield item;
}
