import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RpcError } from '../../lib/errors';
import type { Logger } from '../../lib/observe/logger';
import type { PhobosService } from '../../lib/service';
import { sendError, type ErrorReplyOptions } from './reply';
import type { ResolvedOptions } from './options';

/**
 * What every route shares: the service whose client makes the calls, the resolved options, and the bookkeeping
 * close() needs (requests in flight, open event streams).
 */
export class GatewayCore {
  readonly logger: Logger;
  /** Requests answered or being answered; close() waits for this to reach zero. */
  inFlight = 0;
  /** Open event streams, ended by close() (they may otherwise run for as long as their deadline allows). */
  readonly streams = new Set<(why: RpcError) => void>();
  closing = false;
  private idle: (() => void)[] = [];

  constructor(
    readonly service: PhobosService,
    readonly options: ResolvedOptions,
  ) {
    this.logger = service.logger.child({ part: 'gateway' });
  }

  /** Counts `res` in flight until it is finished or its connection closed. */
  track(res: ServerResponse): void {
    this.inFlight++;
    res.once('close', () => {
      this.inFlight--;
      if (this.inFlight === 0 && this.idle.length) for (const w of this.idle.splice(0)) w();
    });
  }

  /** Resolves true once nothing is in flight, false when `ms` passed first. */
  whenIdle(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  fail(req: IncomingMessage, res: ServerResponse, err: RpcError, extra: Omit<ErrorReplyOptions, 'gzip' | 'gzipThreshold'> = {}): void {
    sendError(req, res, err, { gzip: this.options.gzip, gzipThreshold: this.options.gzipThreshold, ...extra });
  }
}

/** True between the end of start() and the beginning of stop(). */
export function serviceStarted(service: PhobosService): boolean {
  return service.lifecycle === 'started';
}
