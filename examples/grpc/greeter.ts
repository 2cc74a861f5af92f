import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { z } from 'zod';
import { Method, Service, type Context } from '../../lib';

/**
 * A plain Phobos service, written with no thought of gRPC: the face maps helloworld.Greeter's rpcs onto it by name
 * (SayHello -> sayHello, Countdown -> countdown). It is called `grpc-greeter` in Phobos, so the face is told which
 * proto service that is (`services: { 'grpc-greeter': 'helloworld.Greeter' }`).
 */

export class HelloRequest {
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  name!: string;

  @IsOptional()
  @IsString()
  greeting?: string;
}

const CountdownRequest = z.object({ from: z.number().int().min(0).max(1000) });

@Service({ name: 'grpc-greeter', version: '1.0.0' })
export class GrpcGreeter {
  @Method()
  async sayHello(req: HelloRequest, ctx: Context): Promise<{ message: string; pid: number; requestId: string }> {
    // proto3 sends absent strings as '', hence `||` rather than `??`.
    return { message: `${req.greeting || 'Hello'}, ${req.name}!`, pid: process.pid, requestId: ctx.metadata['x-request-id'] ?? '' };
  }

  @Method({ stream: 'server', request: CountdownRequest })
  async *countdown(req: z.infer<typeof CountdownRequest>): AsyncGenerator<{ n: number }> {
    for (let n = req.from; n >= 0; n--) yield { n };
  }
}
