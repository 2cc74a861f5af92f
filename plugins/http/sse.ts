import type { ServerResponse } from 'node:http';
import type { ClientStream } from '../../lib/client/types';
import { RpcError } from '../../lib/errors';
import type { GatewayCore } from './core';
import { callError, gatewayError, httpStatus } from './errors';

/**
 * Server-sent events for streaming endpoints: each item of the call's reply stream is one `data: <json>` event; a
 * failure is an `event: error` whose data is `{id, code, detail}`; the end is an `event: end` with the item count.
 * A comment line every `sseHeartbeat` ms keeps proxies from closing a quiet stream. Items are pulled from the call
 * only while the HTTP socket takes them (write back-pressure), so a slow reader slows the handler down through the
 * stream's credit instead of filling memory. The HTTP client disconnecting cancels the call: the handler's signal
 * aborts and its generator's finally blocks run.
 */

export async function sendEventStream(
  core: GatewayCore,
  res: ServerResponse,
  stream: ClientStream<unknown>,
  deadline: number,
): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  let gone = false;
  let shutdown: RpcError | undefined;
  const stop = (why: RpcError) => {
    shutdown = why;
    stream.cancel(why.detail);
  };
  core.streams.add(stop);
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    stream.cancel('the HTTP client disconnected');
  };
  res.once('close', onClose);
  const heartbeat = core.options.sseHeartbeat > 0 ? setInterval(() => res.write(': ping\n\n'), core.options.sseHeartbeat) : undefined;
  heartbeat?.unref();
  let count = 0;
  try {
    for await (const item of stream) {
      count++;
      if (!res.write(`data: ${JSON.stringify(item) ?? 'null'}\n\n`)) await drained(res);
      if (gone) return;
    }
    if (shutdown) throw shutdown;
    if (!gone) res.end(`event: end\ndata: ${JSON.stringify({ count })}\n\n`);
  } catch (err) {
    if (gone) return;
    const e = err instanceof RpcError && err === shutdown ? err : callError(err, deadline);
    const status = httpStatus(e);
    res.end(`event: error\ndata: ${JSON.stringify({ id: e.id, code: status, detail: e.detail })}\n\n`);
  } finally {
    clearInterval(heartbeat);
    core.streams.delete(stop);
    res.off('close', onClose);
  }
}

/** Waits for the socket to take more, or for it to close. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Why close() ends open streams. */
export const SHUTTING_DOWN = (): RpcError => gatewayError(503, 'the gateway is shutting down');
