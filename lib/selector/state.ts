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
  /**
   * One breaker per endpoint, made on the first outcome reported for it. A list, not a map: a node serves a handful
   * of endpoints, and the one used last is checked first, so a run of calls to one endpoint never searches.
   */
  breakers: Breaker[] | undefined;
  private lastBreaker: Breaker | undefined;

  constructor(
    readonly service: ServiceState,
    readonly id: string,
    public address: string,
  ) {}

  breaker(endpoint: string): Breaker | undefined {
    const last = this.lastBreaker;
    if (last !== undefined && last.endpoint === endpoint) return last;
    const list = this.breakers;
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) if (list[i].endpoint === endpoint) return (this.lastBreaker = list[i]);
    return undefined;
  }

  addBreaker(b: Breaker): Breaker {
    (this.breakers ??= []).push(b);
    return (this.lastBreaker = b);
  }
}

/**
 * The selector tags the node objects it hands out with their state (a non-enumerable symbol, so copies and JSON
 * leave it behind): `mark` then reaches the state without a map lookup, which on a large node set is a cache miss.
 */
export const NODE_STATE = Symbol('phobos.selector.node');

export function tag(node: SelectedNode, st: NodeState): SelectedNode {
  Object.defineProperty(node, NODE_STATE, { value: st });
  return node;
}

/** The state `node` was tagged with, when it belongs to `svc`. */
export function tagged(node: SelectedNode, svc: ServiceState): NodeState | undefined {
  const st = (node as { [NODE_STATE]?: NodeState })[NODE_STATE];
  return st !== undefined && st.service === svc ? st : undefined;
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
    if (!st) this.nodes.set(id, (st = new NodeState(this, id, address)));
    else if (st.address !== address) st.address = address;
    return st;
  }

  /** Drops a node that left the registry, with the bookkeeping its breakers and deadlines took part in. */
  forget(st: NodeState): void {
    this.nodes.delete(st.id);
    this.timed.delete(st);
    if (st.breakers) for (const b of st.breakers) if (b.state !== 'closed') this.unsettled--;
  }
}
