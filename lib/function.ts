import { buildOrExit, PhobosService, type ServiceOptions } from './service';

/**
 * A Function is a Service that serves exactly one request (or event) and exits: it registers, answers the first
 * call, then stops (deregister, drain, close) and exits 0. Useful for one-shot jobs started by a scheduler.
 */
export class PhobosFunction extends PhobosService {
  private finishing = false;

  constructor(options: ServiceOptions) {
    super(options);
    this.server.onAnswered = () => {
      if (this.finishing) return;
      this.finishing = true;
      // Let the reply's write be flushed (writes of a tick go out together) before the listener closes.
      setImmediate(() => {
        this.stop().then(
          () => process.exit(0),
          (err) => {
            process.stderr.write(`phobos: function ${this.name} failed to stop: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      });
    };
  }
}

export function createFunction(options: ServiceOptions): PhobosFunction {
  return buildOrExit(options, () => new PhobosFunction(options));
}
