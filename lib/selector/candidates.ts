import type { ServiceRecord } from '../registry/registry';
import type { Ring } from './ring';
import type { SelectedNode } from './selector';
import type { NodeTable, ServiceState } from './state';
import type { WeightedCycle } from './strategies/weighted';

/**
 * Candidate lists, computed once and cached so no call pays O(nodes):
 *
 * - a View is the nodes of one record array that pass the version and label filters (plus what strategies derive
 *   from exactly that set: the hash ring, the weights). Cached per service and (version, labels); rebuilt when the
 *   registry cache hands out a new record array, and kept as it is when the new array holds the same nodes.
 * - Candidates are a view's nodes that selection may hand out for one endpoint right now: breakers not open and, when
 *   that leaves any, nodes not cooling down after a connection failure. Cached per view and endpoint, and recomputed
 *   when the service's health epoch moved; the old object is kept when the membership did not change, so strategy
 *   state (the weighted cycle, the round-robin turn) carries on.
 */

export class View {
  /** The hash ring over `nodes`, built on first use by the `hash` strategy. */
  ring: Ring | undefined;
  /** The turn of per-call candidate lists (custom filters), which do not live long enough to keep one. */
  readonly rotor: Rotor = { turn: 0 };
  readonly byEndpoint = new Map<string, Candidates>();
  private weightList: Int32Array | undefined;
  private positions: Map<string, number> | undefined;

  constructor(
    public records: ServiceRecord[],
    public nodes: SelectedNode[],
    /** Each node's slot in `table` (see state.ts). */
    readonly slots: Int32Array,
    readonly table: NodeTable,
  ) {}

  /** Node weights from metadata `weight` (a positive integer, at most MAX_WEIGHT; anything else counts as 1). */
  weights(): Int32Array {
    if (!this.weightList) this.weightList = Int32Array.from(this.nodes, (n) => weightOf(n));
    return this.weightList;
  }

  /** The index of node `id` in `nodes`, or -1 (custom filters hand back node objects, not indexes). */
  indexOf(id: string): number {
    if (!this.positions) this.positions = new Map(this.nodes.map((n, i) => [n.id, i]));
    return this.positions.get(id) ?? -1;
  }
}

export const MAX_WEIGHT = 10_000;

export function weightOf(node: SelectedNode): number {
  const raw = node.metadata?.weight;
  if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw)) return 1;
  const w = Number(raw);
  return w < 1 ? 1 : Math.min(w, MAX_WEIGHT);
}

/** A turn counter: round-robin turns and the rotating start of the strategies that scan. */
export interface Rotor {
  turn: number;
}

export class Candidates {
  readonly count: number;
  /** Every node of the view is a candidate: `indices[k] === k`, and the strategies skip reading it. */
  readonly whole: boolean;
  /**
   * Carried over when the list is recomputed; per-call lists (custom filters) share their view's, so they rotate
   * across calls too.
   */
  readonly rotor: Rotor;
  /** The `weighted` strategy's position in its cycle over exactly these nodes. */
  cycle: WeightedCycle | undefined;

  constructor(
    readonly view: View,
    /** Indexes into `view.nodes`, ascending. */
    readonly indices: Int32Array,
    /** 1 at the view indexes that are candidates (the `hash` strategy walks the ring and skips the others). */
    readonly mask: Uint8Array,
    public epoch: number,
    /** For per-call lists made by custom filters: the view indexes they kept, to recompute on a retry. */
    readonly subset?: Int32Array,
    rotor?: Rotor,
  ) {
    this.count = indices.length;
    this.whole = indices.length === view.nodes.length;
    this.rotor = rotor ?? (subset ? view.rotor : { turn: 0 });
  }

  /** The candidate after view index `i` (wrapping): how a retry steers away from the node that just failed. */
  after(i: number): number {
    const idx = this.indices;
    let lo = 0;
    let hi = idx.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (idx[mid] <= i) lo = mid + 1;
      else hi = mid;
    }
    return idx[lo === idx.length ? 0 : lo];
  }
}

/** The key a view is cached under; built only for calls that filter by version or labels. */
export function viewKey(version: string | undefined, labels: Record<string, string> | undefined): string {
  let key = version === undefined ? '\u0001' : `${version}\u0001`;
  if (labels) for (const k in labels) key += `${k}\u0002${labels[k]}\u0003`;
  return key;
}

/** The view of `records` for (version, labels); `previous` is reused when it holds exactly the same nodes. */
export function makeView(
  svc: ServiceState,
  records: ServiceRecord[],
  version: string | undefined,
  labels: Record<string, string> | undefined,
  previous: View | undefined,
): View {
  let nodes = svc.all;
  if (version !== undefined || labels !== undefined) nodes = nodes.filter((n) => (version === undefined || n.version === version) && matches(n, labels));
  if (previous && sameNodes(previous.nodes, nodes)) {
    previous.records = records;
    previous.nodes = nodes; // fresh objects: metadata other than the weight may have changed
    return previous;
  }
  return new View(
    records,
    nodes,
    Int32Array.from(nodes, (n) => svc.slotOf(n)),
    svc.nodes,
  );
}

function matches(node: SelectedNode, labels: Record<string, string> | undefined): boolean {
  if (!labels) return true;
  const meta = node.metadata ?? {};
  for (const k in labels) if (meta[k] !== labels[k]) return false;
  return true;
}

/** Same ids, addresses and weights in the same order: everything derived from the old list still holds. */
function sameNodes(a: SelectedNode[], b: SelectedNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].id !== b[i].id || a[i].address !== b[i].address || a[i].metadata?.weight !== b[i].metadata?.weight) return false;
  }
  return true;
}


/**
 * The candidates among `subset` (default: the whole view) for `endpoint`: nodes no breaker blocks and, unless that
 * leaves none, not cooling down. Empty when every node is blocked (the caller fails fast). `previous` is returned,
 * re-stamped, when the result is the same list.
 */
export function candidatesOf(svc: ServiceState, view: View, endpoint: string, previous?: Candidates, subset?: Int32Array): Candidates {
  const slots = view.slots;
  const nodes = svc.nodes;
  const breakers = svc.breakersOf(endpoint); // undefined: no outcome reported for the endpoint yet, none can be open
  const total = subset ? subset.length : slots.length;
  const open = new Int32Array(total);
  let openCount = 0;
  let healthyCount = 0;
  for (let k = 0; k < total; k++) {
    const i = subset ? subset[k] : k;
    if (breakers !== undefined && !breakers.admits(slots[i])) continue;
    open[openCount++] = i;
    if (nodes.coolUntil(slots[i]) === 0) healthyCount++;
  }
  let indices: Int32Array;
  if (healthyCount === openCount) indices = open.subarray(0, openCount);
  else if (healthyCount === 0) indices = open.subarray(0, openCount); // only cooling nodes: a suspect node beats none
  else {
    indices = new Int32Array(healthyCount);
    for (let k = 0, j = 0; k < openCount; k++) if (nodes.coolUntil(slots[open[k]]) === 0) indices[j++] = open[k];
  }
  const epoch = svc.epoch;
  if (previous && equal(previous.indices, indices)) {
    previous.epoch = epoch;
    return previous;
  }
  const mask = new Uint8Array(slots.length);
  for (let k = 0; k < indices.length; k++) mask[indices[k]] = 1;
  return new Candidates(view, indices.slice(), mask, epoch, subset, previous?.rotor);
}

function equal(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
