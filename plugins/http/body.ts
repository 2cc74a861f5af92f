import type { IncomingMessage } from 'node:http';
import { brotliDecompress, gunzip, inflate, type InputType } from 'node:zlib';
import type { RpcError } from '../../lib/errors';
import { gatewayError } from './errors';

/**
 * Reads a request body within its limits. An announced Content-Length over the limit is refused before a byte is
 * read; a chunked body is counted as it arrives and refused the moment it passes the limit; a compressed body
 * (Content-Encoding gzip, deflate or br) is inflated with the limit applied to the inflated size, so a small zip bomb
 * is refused once it has produced `limit` bytes, not after. The whole body must arrive within `timeout` ms of the
 * headers (a client dribbling its body holds nothing for long). Failures are RpcErrors with `closeConnection` set when
 * the rest of the body is still on the wire: the answer then closes the connection instead of reading on.
 */

export interface BodyLimits {
  limit: number;
  timeout: number;
}

export type BodyError = RpcError & { closeConnection?: boolean };

type Inflate = (buf: InputType, options: { maxOutputLength: number }, cb: (err: Error | null, out: Buffer) => void) => void;
const INFLATERS: Record<string, Inflate> = { gzip: gunzip, 'x-gzip': gunzip, deflate: inflate, br: brotliDecompress };

const EMPTY = Buffer.alloc(0);

/** Checks what the headers announce; returns the error to answer with, if any (nothing has been read yet). */
export function checkAnnounced(req: IncomingMessage, limit: number): BodyError | undefined {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > limit) {
    return refuse(413, `the request body of ${length} bytes is over the limit of ${limit} bytes`);
  }
  const encoding = contentEncoding(req);
  if (encoding !== 'identity' && !INFLATERS[encoding]) {
    return refuse(415, `Content-Encoding "${encoding}" is not supported (gzip, deflate, br or none)`);
  }
  return undefined;
}

function contentEncoding(req: IncomingMessage): string {
  return (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase() || 'identity';
}

function refuse(code: number, detail: string): BodyError {
  const e: BodyError = gatewayError(code, detail);
  e.closeConnection = true;
  return e;
}

/** Resolves with the (inflated) body; call checkAnnounced first. */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const { limit, timeout } = limits;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: BodyError | undefined, body?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) {
        // Stop reading what is left: the answer closes the connection.
        req.pause();
        reject(err);
      } else resolve(body!);
    };
    const timer = setTimeout(() => finish(refuse(408, `the request body did not arrive within ${timeout} ms`)), timeout);
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return finish(refuse(413, `the request body is over the limit of ${limit} bytes`));
      chunks.push(chunk);
    };
    const onEnd = () => {
      const raw = chunks.length === 1 ? chunks[0] : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, size);
      const encoding = contentEncoding(req);
      if (encoding === 'identity' || raw.length === 0) return finish(undefined, raw);
      clearTimeout(timer);
      INFLATERS[encoding](raw, { maxOutputLength: limit }, (err, out) => {
        if (!err) return finish(undefined, out);
        const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError;
        const e: BodyError = tooLarge
          ? gatewayError(413, `the request body inflates to more than the limit of ${limit} bytes`)
          : gatewayError(400, `the ${encoding} request body cannot be inflated: ${err.message}`);
        finish(e);
      });
    };
    const onError = (err: Error) => finish(refuse(400, `reading the request body failed: ${err.message}`));
    const onAborted = () => finish(refuse(499, 'the client went away while sending the body'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
