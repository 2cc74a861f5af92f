import type { NodeRecord, ServiceRecord } from '../registry/registry';
import type { Breaker } from './breaker';
import type { View } from './candidates';
import type { SelectedNode } from './selector';

/**
 * What the selector remembers between calls. Node state is kept by node id so it survives the registry handing out
 * new record arrays; everything derived from one record array (views, candidate lists, rings) is rebuilt when the
 * array changes and cached until then.
 *
 * Layout matters on the hot path: with thousands of nodes each call touches a node's state in memory no other call
 * touched lately, so every field is assigned in the constructor (kept inside the object, not in a separate property
 * array) and holds a small integer (a double field is a separate boxed number, one more cache miss). Hence times are
 * ms since the selector started (see `DefaultSelector.now`) and the latency average is in µs.
 */

/** `sampledAt` of a node never measured: far enough in the past to be stale, small enough to stay an integer. */
export const NEVER = -(2 ** 30);

export class NodeState {
  /** Attempts handed out by `next()` and not yet marked (the `leastinflight` strategy). */
  inflight = 0;
  /** Smoothed round trip in µs and when it was last fed (the `latency` strategy). */
  ewma = 0;
  sampledAt = NEVER;
  /** Until when the node is avoided after a connection-level failure; 0: not cooling. */
  coolUntil = 0;
  /**
   * One breaker per endpoint, made on the first outcome reported for it. A list, not a map: a node serves a handful
   * of endpoints, and the one used last is checked first, so a run of calls to one endpoint never searches.
   */
  breakers: Breaker[] | undefined = undefined;
  private lastBreaker: Breaker | undefined = undefined;

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
 * The node objects the selector hands out carry their state under a symbol (JSON leaves it out): `mark` then reaches
 * the state without a map lookup, which on a large node set is one more cache miss.
 */
export const NODE_STATE = Symbol('phobos.selector.node');

/** The node as handed out: the record's fields, its version, and its state under a symbol (one literal, so the
 *  symbol sits inside the object like the other fields). */
export function handedOut(node: NodeRecord, version: string, st: NodeState): SelectedNode {
  return { id: node.id, address: node.address, metadata: node.metadata, version, [NODE_STATE]: st } as SelectedNode;
}

/** The state `node` was tagged with, when it belongs to `svc` (a copy with another id does not). */
export function tagged(node: SelectedNode, svc: ServiceState): NodeState | undefined {
  const st = (node as { [NODE_STATE]?: NodeState })[NODE_STATE];
  return st !== undefined && st.service === svc && st.id === node.id ? st : undefined;
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
