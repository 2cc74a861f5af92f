import type { Logger } from '../observe/logger';
import { Breaker, type BreakerSettings } from './breaker';
import type { BreakerListener, BreakerSnapshot, BreakerState } from './selector';
import type { NodeState, ServiceState } from './state';

/**
 * Node health as selection sees it: breakers per node and endpoint, and the short cool-down after a connection-level
 * failure. Every change of what may be selected bumps the service's epoch, which is how cached candidate lists learn
 * they are out of date. Deadlines (a cool-down ending, an open breaker's pause ending) are not timers: the selector
 * calls `expire` when the earliest one has passed, so an idle selector costs nothing and tests drive it by clock.
 */
export class Health {
  private readonly listeners = new Set<BreakerListener>();

  constructor(
    /** undefined: breakers are off. */
    readonly settings: BreakerSettings | undefined,
    private readonly coolDown: number,
    /** The selector's clock at its start: internal times are relative to it, snapshots show the clock's own. */
    private readonly base: number,
    private readonly logger: Logger,
  ) {}

  /** Feeds one attempt's verdict to the node's breaker for `endpoint` (created on first use). */
  result(svc: ServiceState, st: NodeState, endpoint: string, verdict: number, now: number): void {
    const b = st.breaker(endpoint) ?? st.addBreaker(new Breaker(this.settings!, endpoint));
    const from = b.state;
    if (from === 'closed') {
      // The hot path: a closed breaker counting an outcome; anything more happens only when it opens.
      const reason = b.result(verdict, now);
      if (reason) this.changed(svc, st, b, from, reason);
      return;
    }
    const admitted = b.admits();
    const reason = b.result(verdict, now);
    if (reason) this.changed(svc, st, b, from, reason);
    else if (admitted !== b.admits()) svc.epoch++; // a trial permit came back: the node may be handed out again
  }

  /**
   * Whether `next()` may hand the node out for `endpoint` now, taking a half-open trial permit if so. Only asked
   * while the service has a breaker that is not closed.
   */
  admit(svc: ServiceState, st: NodeState, endpoint: string): boolean {
    const b = st.breaker(endpoint);
    if (b === undefined || b.state === 'closed') return true;
    if (!b.admits()) return false;
    b.take();
    if (!b.admits()) svc.epoch++; // the last permit is out: the node leaves the candidates until one comes back
    return true;
  }

  /** Starts (or extends) the node's cool-down. */
  cool(svc: ServiceState, st: NodeState, now: number): void {
    const until = now + this.coolDown;
    if (st.coolUntil === 0) svc.epoch++;
    st.coolUntil = until;
    this.schedule(svc, st, until);
  }

  /** Ends the node's cool-down early (it answered). */
  recovered(svc: ServiceState, st: NodeState): void {
    st.coolUntil = 0;
    svc.epoch++;
  }

  /** Applies every deadline that has passed: cool-downs end, open breakers go half-open. */
  expire(svc: ServiceState, now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const st of svc.timed) {
      let pending = Number.POSITIVE_INFINITY;
      if (st.coolUntil !== 0) {
        if (st.coolUntil <= now) this.recovered(svc, st);
        else pending = st.coolUntil;
      }
      if (st.breakers) {
        for (const b of st.breakers) {
          if (b.wake(now)) this.changed(svc, st, b, 'open', 'pause over');
          else if (b.state === 'open') pending = Math.min(pending, b.retryAt);
        }
      }
      if (pending === Number.POSITIVE_INFINITY) svc.timed.delete(st);
      else next = Math.min(next, pending);
    }
    svc.nextDeadline = next;
  }

  onChange(listener: BreakerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(services: Iterable<ServiceState>): BreakerSnapshot[] {
    const out: BreakerSnapshot[] = [];
    for (const svc of services) {
      for (const st of svc.nodes.values()) {
        if (!st.breakers) continue;
        for (const b of st.breakers) {
          out.push({
            service: svc.name,
            endpoint: b.endpoint,
            node: st.id,
            address: st.address,
            state: b.state,
            requests: b.requests,
            failures: b.failures,
            consecutiveFailures: b.consecutive,
            retryAt: b.state === 'open' ? b.retryAt + this.base : 0,
          });
        }
      }
    }
    return out;
  }

  clear(): void {
    this.listeners.clear();
  }

  private schedule(svc: ServiceState, st: NodeState, at: number): void {
    svc.timed.add(st);
    if (at < svc.nextDeadline) svc.nextDeadline = at;
  }

  private changed(svc: ServiceState, st: NodeState, b: Breaker, from: BreakerState, reason: string): void {
    const to = b.state;
    if (from === 'closed') svc.unsettled++;
    else if (to === 'closed') svc.unsettled--;
    if (to === 'open') this.schedule(svc, st, b.retryAt);
    svc.epoch++;
    const event = { service: svc.name, endpoint: b.endpoint, node: st.id, address: st.address, from, to, reason };
    if (to === 'open') this.logger.warn(event, 'circuit breaker open: node out of selection for the endpoint');
    else if (to === 'closed') this.logger.info(event, 'circuit breaker closed');
    else this.logger.info(event, 'circuit breaker half-open: letting trial calls through');
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err }, 'a breaker listener threw');
      }
    }
  }
}
