import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { z } from 'zod';
import { Method, Service, Subscribe, type Context } from '../../lib';

/** The greeter handler shared by the examples: one DTO-validated method, one zod-validated method, one subscriber. */

export class HelloRequest {
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  name!: string;

  @IsOptional()
  @IsString()
  greeting?: string;
}

export interface HelloReply {
  message: string;
  /** Which process answered, so the examples can show load balancing. */
  pid: number;
}

const AddRequest = z.object({ a: z.number(), b: z.number() });

export interface UserCreated {
  id: string;
  name: string;
}

@Service({ name: 'greeter', version: '1.0.0' })
export class Greeter {
  /** Events seen by this instance, for the pub/sub example. */
  readonly seen: UserCreated[] = [];

  @Method()
  async hello(req: HelloRequest, ctx: Context): Promise<HelloReply> {
    ctx.logger.debug({ name: req.name }, 'hello');
    return { message: `${req.greeting ?? 'Hello'}, ${req.name}!`, pid: process.pid };
  }

  @Method({ request: AddRequest })
  async add(req: z.infer<typeof AddRequest>): Promise<{ sum: number }> {
    return { sum: req.a + req.b };
  }

  @Subscribe('user.created', { queue: 'greeter' })
  async onUserCreated(event: UserCreated): Promise<void> {
    this.seen.push(event);
  }
}
