import type { ServiceRecord } from '../registry/registry';
import type { Breaker } from './breaker';
import type { View } from './candidates';
import type { SelectedNode } from './selector';

/**
 * What the selector remembers between calls. Node state is kept by node id so it survives the registry handing out
 * new record arrays; everything derived from one record array (views, candidate lists, rings) is rebuilt when the
 * array changes and cached until then.
 */

export class NodeState {
  /** Attempts handed out by `next()` and not yet marked (the `leastinflight` strategy). */
  inflight = 0;
  /** Smoothed round trip in ms and when it was last fed (the `latency` strategy); -Infinity: never measured. */
  ewma = 0;
  sampledAt = Number.NEGATIVE_INFINITY;
  /** Until when the node is avoided after a connection-level failure (the selector's clock); 0: not cooling. */
  coolUntil = 0;
  /** Breakers by endpoint, created on the first outcome reported for that endpoint. */
  breakers: Map<string, Breaker> | undefined;

  constructor(
    readonly id: string,
    public address: string,
  ) {}
}

export class ServiceState {
  /** Bumped whenever a node's eligibility changes (cool-down, breaker): cached candidate lists compare it. */
  epoch = 0;
  readonly nodes = new Map<string, NodeState>();
  /** The record array the flattened node list below was made from. */
  records: ServiceRecord[] | undefined;
  all: SelectedNode[] = [];
  /** Views by version and labels; `plain` is the one without either (most calls). */
  plain: View | undefined;
  readonly views = new Map<string, View>();
  /** Breakers of this service that are not closed: `next()` checks them only when there are any. */
  unsettled = 0;
  /** Nodes with a deadline (cooling, or a breaker open), and the earliest of those deadlines. */
  readonly timed = new Set<NodeState>();
  nextDeadline = Number.POSITIVE_INFINITY;

  constructor(readonly name: string) {}

  node(id: string, address: string): NodeState {
    let st = this.nodes.get(id);
    if (!st) this.nodes.set(id, (st = new NodeState(id, address)));
    else if (st.address !== address) st.address = address;
    return st;
  }

  /** Drops a node that left the registry, with the bookkeeping its breakers and deadlines took part in. */
  forget(st: NodeState): void {
    this.nodes.delete(st.id);
    this.timed.delete(st);
    if (st.breakers) for (const b of st.breakers.values()) if (b.state !== 'closed') this.unsettled--;
  }
}
