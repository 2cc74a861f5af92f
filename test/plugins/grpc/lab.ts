import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { z } from 'zod';
import { errors, Method, RpcError, Service, type Context } from '../../../lib';

/** The Phobos side of lab.proto, and a stock gRPC client for it built from the .proto alone. */

export const LAB_PROTO = join(__dirname, 'lab.proto');

const Echo = z.object({ text: z.string().min(1, 'text must not be empty'), times: z.number().int().min(0).max(10) });

/** Registered as the Phobos service "lab": the default name for facetest.Lab. */
@Service({ name: 'lab', version: '1.0.0' })
export class Lab {
  /** How each Hold call ended: the abort reason's name and message. */
  readonly holds: { name: string; message: string }[] = [];
  held: (() => void) | undefined;
  /** Ticks the stream handler has produced, over all calls. */
  produced = 0;
  /** Stream handlers whose generator was closed (finished, failed or returned on cancel). */
  closedStreams = 0;

  @Method({ request: Echo })
  async echo(req: z.infer<typeof Echo>, ctx: Context): Promise<object> {
    return { text: req.text.repeat(Math.max(1, req.times)), metadataJson: JSON.stringify(ctx.metadata), big: '9007199254740993', notInProto: 'dropped' };
  }

  @Method()
  async fail(req: { code: number }): Promise<object> {
    if (req.code === 0) throw new Error('the handler crashed');
    throw new RpcError('lab.fail', req.code, `failed with ${req.code} as asked`);
  }

  @Method()
  async hold(_req: unknown, ctx: Context): Promise<object> {
    this.held?.();
    await new Promise<void>((resolve) => {
      ctx.signal.addEventListener('abort', () => {
        const reason = ctx.signal.reason as Error;
        this.holds.push({ name: reason?.name, message: reason?.message });
        resolve();
      });
    });
    return { text: 'too late' };
  }

  @Method({ stream: 'server' })
  async *ticks(req: { count: number; failAfter: number }): AsyncGenerator<{ n: number }> {
    try {
      for (let n = 1; n <= req.count; n++) {
        if (req.failAfter && n > req.failAfter) throw errors.badRequest('lab.ticks', 'no more ticks');
        this.produced++;
        yield { n };
      }
    } finally {
      this.closedStreams++;
    }
  }
}

export type Callback<T> = (err: grpc.ServiceError | null, reply: T) => void;

/** A stock client: @grpc/grpc-js + @grpc/proto-loader and the .proto, nothing of Phobos. */
export function labClient(address: string): grpc.Client & Record<string, any> {
  const definition = protoLoader.loadSync(LAB_PROTO, { longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(definition) as any;
  return new pkg.facetest.Lab(address, grpc.credentials.createInsecure());
}

/** Calls a unary method; resolves with the reply or the ServiceError (never rejects). */
export function unary<T = any>(
  client: Record<string, any>,
  method: string,
  request: object,
  options: { metadata?: grpc.Metadata; deadline?: number; call?: (c: grpc.ClientUnaryCall) => void } = {},
): Promise<{ reply?: T; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const call = client[method](request, options.metadata ?? new grpc.Metadata(), { deadline: options.deadline ?? Date.now() + 5000 }, (err: grpc.ServiceError | null, reply: T) =>
      resolve(err ? { err } : { reply }),
    );
    options.call?.(call);
  });
}
