import type { NodeRecord, ServiceRecord } from '../registry/registry';
import { CLOSED, type BreakerTable } from './breaker';
import type { View } from './candidates';
import type { SelectedNode } from './selector';

/**
 * What the selector remembers between calls. Per-node state is kept by node id (so it survives the registry handing
 * out new record arrays) in a slot: an index into typed arrays, one array per counter. Everything derived from one
 * record array (views, candidate lists, rings) is rebuilt when the array changes and cached until then.
 *
 * Why arrays and not an object per node: with thousands of nodes, each call lands on a node no other call touched
 * lately, and each object it reads is a cache miss (often a TLB miss too). An Int32Array of 10,000 counters is
 * 40 KB and stays in the CPU's cache; 10,000 objects spread over the heap do not. It is what keeps a call on 10,000
 * nodes about as cheap as on 10 (`npm run bench:select`). Times are ms since the selector started (small integers),
 * latency averages are µs.
 */

/** `sampledAt` of a node never measured: far enough in the past to be stale. */
export const NEVER = -(2 ** 30);

export class NodeTable {
  /** Attempts handed out by `next()` and not yet marked (the `leastinflight` strategy). */
  inflight = new Int32Array(0);
  /** Smoothed round trip in µs and when it was last fed (the `latency` strategy). */
  ewma = new Int32Array(0);
  sampledAt = new Int32Array(0);
  /** Until when the node is avoided after a connection-level failure; 0: not cooling. */
  coolUntil = new Int32Array(0);
  /** The node id and address in each slot; undefined for a free slot. */
  readonly ids: (string | undefined)[] = [];
  readonly addresses: string[] = [];
  readonly slots = new Map<string, number>();
  private readonly free: number[] = [];
  /** Slots released since the last `recycle()`: a call still retrying on a node that just left must not count
   *  against a newcomer in the same slot, so a slot waits one registry change before it is reused. */
  private readonly released: number[] = [];
  capacity = 0;

  /** The slot of node `id`, allocated on first sight. */
  slot(id: string, address: string): number {
    let slot = this.slots.get(id);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.ids.length;
      if (slot >= this.capacity) this.grow(Math.max(16, this.capacity * 2));
      this.ids[slot] = id;
      this.addresses[slot] = address;
      this.slots.set(id, slot);
      this.sampledAt[slot] = NEVER;
    } else if (this.addresses[slot] !== address) this.addresses[slot] = address;
    return slot;
  }

  release(slot: number): void {
    this.slots.delete(this.ids[slot]!);
    this.ids[slot] = undefined;
    this.inflight[slot] = this.ewma[slot] = this.coolUntil[slot] = 0;
    this.sampledAt[slot] = NEVER;
    this.released.push(slot);
  }

  /** Makes the slots released before now reusable. */
  recycle(): void {
    for (const slot of this.released.splice(0)) this.free.push(slot);
  }

  private grow(capacity: number): void {
    const widen = (a: Int32Array) => {
      const b = new Int32Array(capacity);
      b.set(a);
      return b;
    };
    this.inflight = widen(this.inflight);
    this.ewma = widen(this.ewma);
    this.sampledAt = widen(this.sampledAt);
    this.coolUntil = widen(this.coolUntil);
    this.capacity = capacity;
  }
}

/** The node objects the selector hands out carry their slot under a symbol (JSON leaves it out), so `mark` finds it
 *  without a map lookup. */
export const NODE_SLOT = Symbol('phobos.selector.slot');

/** The node as handed out: the record's fields, its version and its slot, in one literal (so all are in-object). */
export function handedOut(node: NodeRecord, version: string, slot: number): SelectedNode {
  return { id: node.id, address: node.address, metadata: node.metadata, version, [NODE_SLOT]: slot } as SelectedNode;
}

export class ServiceState {
  /** Bumped whenever a node's eligibility changes (cool-down, breaker): cached candidate lists compare it. */
  epoch = 0;
  readonly nodes = new NodeTable();
  /** Breakers by endpoint ('' when calls name none); `last` saves the lookup for a run of calls to one endpoint. */
  readonly breakers = new Map<string, BreakerTable>();
  private last: BreakerTable | undefined = undefined;
  /** The record array the flattened node list below was made from. */
  records: ServiceRecord[] | undefined;
  all: SelectedNode[] = [];
  /** Views by version and labels; `plain` is the one without either (most calls). */
  plain: View | undefined;
  readonly views = new Map<string, View>();
  /** Breakers of this service that are not closed: `next()` checks them only when there are any. */
  unsettled = 0;
  /** Slots with a deadline (cooling, or a breaker open), and the earliest of those deadlines. */
  readonly timed = new Set<number>();
  nextDeadline = Number.POSITIVE_INFINITY;

  constructor(readonly name: string) {}

  /** The slot `node` was handed out with, checked against its id (a copy with another id gets its own). */
  slotOf(node: SelectedNode): number {
    const slot = (node as { [NODE_SLOT]?: number })[NODE_SLOT];
    if (slot !== undefined && this.nodes.ids[slot] === node.id) return slot;
    return this.nodes.slots.get(node.id) ?? this.nodes.slot(node.id, node.address);
  }

  /** The breakers of `endpoint`, if any outcome was reported for it. */
  breakersOf(endpoint: string): BreakerTable | undefined {
    const last = this.last;
    if (last !== undefined && last.endpoint === endpoint) return last;
    const table = this.breakers.get(endpoint);
    if (table !== undefined) this.last = table;
    return table;
  }

  /** A node that left the registry: its slot is freed, with the bookkeeping its breakers and deadlines took part in. */
  forget(slot: number): void {
    this.timed.delete(slot);
    for (const table of this.breakers.values()) {
      if (table.known(slot) && table.stateOf(slot) !== CLOSED) this.unsettled--;
      table.clear(slot);
    }
    this.nodes.release(slot);
  }
}
