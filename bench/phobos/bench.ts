import { Method, Service } from '../../lib';

/** The echo service every contender implements: the reply is the request. */
export interface EchoMessage {
  data: unknown;
}

@Service({ name: 'bench', version: '1.0.0' })
export class Bench {
  @Method()
  async echo(req: EchoMessage): Promise<EchoMessage> {
    return req;
  }
}
