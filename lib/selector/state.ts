import type { NodeRecord, ServiceRecord } from '../registry/registry';
import { CLOSED, type BreakerTable } from './breaker';
import type { View } from './candidates';
import type { SelectedNode } from './selector';

/**
 * What the selector remembers between calls. Per-node state is kept by node id (so it survives the registry handing
 * out new record arrays) in a slot: an index into typed arrays. Everything derived from one record array (views,
 * candidate lists, rings) is rebuilt when the array changes and cached until then.
 *
 * Why typed arrays and not an object per node: with thousands of nodes, each call lands on a node no other call
 * touched lately, and every separate object it reads is a cache miss (often a TLB miss too; a number field of an
 * object is one more, as V8 boxes doubles). A node's counters sit side by side in one Float64Array (one cache line
 * per node), and the whole table stays in the CPU's cache. It is what keeps a call on 10,000 nodes about as cheap
 * as on 10 (`npm run bench:select`).
 */

/** `sampledAt` of a node never measured. */
export const NEVER = Number.NEGATIVE_INFINITY;

// A node's fields in `NodeTable.data`, at slot * NODE_STRIDE (in-flight counts have an array of their own: every
// call touches them, and a dense Int32Array of them stays in the fastest cache).
const EWMA = 0;
const SAMPLED_AT = 1;
const COOL_UNTIL = 2;
const NODE_STRIDE = 4;

export class NodeTable {
  private counts = new Int32Array(0);
  private data = new Float64Array(0);
  /** The node id and address in each slot; undefined for a free slot. */
  readonly ids: (string | undefined)[] = [];
  readonly addresses: string[] = [];
  readonly slots = new Map<string, number>();
  private readonly free: number[] = [];
  /** Slots released since the last `recycle()`: a call still retrying on a node that just left must not count
   *  against a newcomer in the same slot, so a slot waits one registry change before it is reused. */
  private readonly released: number[] = [];
  private capacity = 0;

  /** Attempts handed out by `next()` and not yet marked (the `leastinflight` strategy). */
  inflight(slot: number): number {
    return this.counts[slot];
  }
  handedOut(slot: number): void {
    this.counts[slot]++;
  }
  returned(slot: number): void {
    if (this.counts[slot] > 0) this.counts[slot]--;
  }

  /** Smoothed round trip in ms, and when it was last fed (the `latency` strategy). */
  ewma(slot: number): number {
    return this.data[slot * NODE_STRIDE + EWMA];
  }
  sampledAt(slot: number): number {
    return this.data[slot * NODE_STRIDE + SAMPLED_AT];
  }
  sample(slot: number, ewma: number, at: number): void {
    this.data[slot * NODE_STRIDE + EWMA] = ewma;
    this.data[slot * NODE_STRIDE + SAMPLED_AT] = at;
  }

  /** Until when the node is avoided after a connection-level failure; 0: not cooling. */
  coolUntil(slot: number): number {
    return this.data[slot * NODE_STRIDE + COOL_UNTIL];
  }
  setCoolUntil(slot: number, until: number): void {
    this.data[slot * NODE_STRIDE + COOL_UNTIL] = until;
  }

  /** The slot of node `id`, allocated on first sight. */
  slot(id: string, address: string): number {
    let slot = this.slots.get(id);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.ids.length;
      if (slot >= this.capacity) this.grow(Math.max(16, this.capacity * 2));
      this.ids[slot] = id;
      this.addresses[slot] = address;
      this.slots.set(id, slot);
      this.clear(slot);
    } else if (this.addresses[slot] !== address) this.addresses[slot] = address;
    return slot;
  }

  release(slot: number): void {
    this.slots.delete(this.ids[slot]!);
    this.ids[slot] = undefined;
    this.clear(slot);
    this.released.push(slot);
  }

  /** Makes the slots released before now reusable. */
  recycle(): void {
    for (const slot of this.released.splice(0)) this.free.push(slot);
  }

  private clear(slot: number): void {
    this.counts[slot] = 0;
    const at = slot * NODE_STRIDE;
    this.data.fill(0, at, at + NODE_STRIDE);
    this.data[at + SAMPLED_AT] = NEVER;
  }

  private grow(capacity: number): void {
    const data = new Float64Array(capacity * NODE_STRIDE);
    data.set(this.data);
    this.data = data;
    const counts = new Int32Array(capacity);
    counts.set(this.counts);
    this.counts = counts;
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
  /** Nodes cooling down: `mark` looks for a cool-down to end only when there are any. */
  cooling = 0;
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
    if (this.nodes.coolUntil(slot) !== 0) this.cooling--;
    for (const table of this.breakers.values()) {
      if (table.known(slot) && table.stateOf(slot) !== CLOSED) this.unsettled--;
      table.clear(slot);
    }
    this.nodes.release(slot);
  }
}
