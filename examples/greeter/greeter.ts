import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { z } from 'zod';
import { Method, Service, Subscribe, type Context } from '../../lib';

/**
 * The greeter handler shared by the examples: one DTO-validated method, one zod-validated method, a server stream, a
 * client stream, and one subscriber.
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

export interface HelloReply {
  message: string;
  /** Which process answered, so the examples can show load balancing. */
  pid: number;
}

const AddRequest = z.object({ a: z.number(), b: z.number() });
const CountdownRequest = z.object({ from: z.number().int().min(0).max(1000) });
const Reading = z.object({ value: z.number() });

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

  /** Server streaming: one message per number, from `from` down to 0 (the client reads them with for-await). */
  @Method({ stream: 'server', request: CountdownRequest })
  async *countdown(req: z.infer<typeof CountdownRequest>): AsyncGenerator<{ n: number }> {
    for (let n = req.from; n >= 0; n--) yield { n };
  }

  /** Client streaming: the caller sends readings one by one; the reply is their count and mean. */
  @Method({ stream: 'client', request: Reading })
  async average(readings: AsyncIterable<z.infer<typeof Reading>>): Promise<{ count: number; mean: number }> {
    let count = 0;
    let sum = 0;
    for await (const r of readings) {
      count++;
      sum += r.value;
    }
    return { count, mean: count ? sum / count : 0 };
  }

  @Subscribe('user.created', { queue: 'greeter' })
  async onUserCreated(event: UserCreated): Promise<void> {
    this.seen.push(event);
  }
}
