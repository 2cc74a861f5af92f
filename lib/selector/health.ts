import type { Logger } from '../observe/logger';
import { BreakerTable, CLOSED, OPEN, STATE_NAMES, type BreakerSettings } from './breaker';
import type { BreakerEvent, BreakerListener, BreakerSnapshot } from './selector';
import type { ServiceState } from './state';

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
    private readonly logger: Logger,
  ) {}

  /** Feeds one attempt's verdict to the breaker of node `slot` for `endpoint`. */
  result(svc: ServiceState, slot: number, endpoint: string, verdict: number, now: number): void {
    let table = svc.breakersOf(endpoint);
    if (table === undefined) svc.breakers.set(endpoint, (table = new BreakerTable(this.settings!, endpoint)));
    const from = table.stateOf(slot);
    if (from === CLOSED) {
      // The hot path: a closed breaker counting an outcome; anything more happens only when it opens.
      const reason = table.result(slot, verdict, now);
      if (reason) this.changed(svc, slot, table, from, reason);
      return;
    }
    const admitted = table.admits(slot);
    const reason = table.result(slot, verdict, now);
    if (reason) this.changed(svc, slot, table, from, reason);
    else if (admitted !== table.admits(slot)) svc.epoch++; // a trial permit came back: the node may be handed out again
  }

  /**
   * Whether `next()` may hand node `slot` out for `endpoint` now, taking a half-open trial permit if so. Only asked
   * while the service has a breaker that is not closed.
   */
  admit(svc: ServiceState, slot: number, endpoint: string): boolean {
    const table = svc.breakersOf(endpoint);
    if (table === undefined || table.stateOf(slot) === CLOSED) return true;
    if (!table.admits(slot)) return false;
    table.take(slot);
    if (!table.admits(slot)) svc.epoch++; // the last permit is out: the node leaves the candidates until one returns
    return true;
  }

  /** Starts (or extends) the node's cool-down. */
  cool(svc: ServiceState, slot: number, now: number): void {
    if (this.coolDown <= 0) return;
    const until = now + this.coolDown;
    const nodes = svc.nodes;
    if (nodes.coolUntil(slot) === 0) {
      svc.epoch++;
      svc.cooling++;
    }
    nodes.setCoolUntil(slot, until);
    this.schedule(svc, slot, until);
  }

  /** Ends the node's cool-down early (it answered). */
  recovered(svc: ServiceState, slot: number): void {
    if (svc.nodes.coolUntil(slot) === 0) return;
    svc.nodes.setCoolUntil(slot, 0);
    svc.cooling--;
    svc.epoch++;
  }

  /** Applies every deadline that has passed: cool-downs end, open breakers go half-open. */
  expire(svc: ServiceState, now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const slot of svc.timed) {
      let pending = Number.POSITIVE_INFINITY;
      const until = svc.nodes.coolUntil(slot);
      if (until !== 0) {
        if (until <= now) this.recovered(svc, slot);
        else pending = until;
      }
      for (const table of svc.breakers.values()) {
        if (table.wake(slot, now)) this.changed(svc, slot, table, OPEN, 'pause over');
        else if (table.stateOf(slot) === OPEN) pending = Math.min(pending, table.retryAtOf(slot));
      }
      if (pending === Number.POSITIVE_INFINITY) svc.timed.delete(slot);
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
      for (const [endpoint, table] of svc.breakers) {
        for (const [id, slot] of svc.nodes.slots) {
          if (!table.known(slot)) continue;
          const state = table.stateOf(slot);
          out.push({
            service: svc.name,
            endpoint,
            node: id,
            address: svc.nodes.addresses[slot],
            state: STATE_NAMES[state],
            requests: table.requests(slot),
            failures: table.failures(slot),
            consecutiveFailures: table.consecutiveFailures(slot),
            retryAt: state === OPEN ? table.retryAtOf(slot) : 0,
          });
        }
      }
    }
    return out;
  }

  clear(): void {
    this.listeners.clear();
  }

  private schedule(svc: ServiceState, slot: number, at: number): void {
    svc.timed.add(slot);
    if (at < svc.nextDeadline) svc.nextDeadline = at;
  }

  private changed(svc: ServiceState, slot: number, table: BreakerTable, fromState: number, reason: string): void {
    const toState = table.stateOf(slot);
    if (fromState === CLOSED) svc.unsettled++;
    else if (toState === CLOSED) svc.unsettled--;
    if (toState === OPEN) this.schedule(svc, slot, table.retryAtOf(slot));
    svc.epoch++;
    const event: BreakerEvent = {
      service: svc.name,
      endpoint: table.endpoint,
      node: svc.nodes.ids[slot]!,
      address: svc.nodes.addresses[slot],
      from: STATE_NAMES[fromState],
      to: STATE_NAMES[toState],
      reason,
    };
    if (toState === OPEN) this.logger.warn(event, 'circuit breaker open: node out of selection for the endpoint');
    else if (toState === CLOSED) this.logger.info(event, 'circuit breaker closed');
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
