import type { Candidates } from '../candidates';
import type { NodeTable } from '../state';
import { nextTurn, SCAN_LIMIT, twoCandidates, type Strategy, type StrategyContext } from './strategy';

/**
 * Lowest latency: each node's cost is the EWMA of the round trips reported to `mark` times (calls in flight + 1), so
 * a fast node is preferred without being buried under concurrent calls. A node with no sample, or none for
 * STALE_AFTER ms, is tried as soon as it is idle (optimistic), so new nodes get measured and a node that was slow
 * once is probed again later instead of being shunned forever. Small lists are compared in full, larger ones by two
 * random candidates.
 */

/** Weight of a new round trip in the average. */
export const EWMA_ALPHA = 0.3;
/** A sample older than this no longer describes the node: it is measured again. */
export const STALE_AFTER = 10_000;

/** Feeds one observed round trip (ms) into the average of node `slot`. */
export function observe(table: NodeTable, slot: number, rtt: number, now: number): void {
  const previous = table.ewma(slot);
  table.sample(slot, now - table.sampledAt(slot) > STALE_AFTER ? rtt : previous + EWMA_ALPHA * (rtt - previous), now);
}

function cost(table: NodeTable, slot: number, now: number): number {
  const inflight = table.inflight(slot);
  if (now - table.sampledAt(slot) > STALE_AFTER) return inflight === 0 ? -1 : 1e15 + inflight; // measure it, once
  return table.ewma(slot) * (inflight + 1);
}

export function latency(ctx: StrategyContext): Strategy {
  const pair = new Int32Array(2);
  return {
    name: 'latency',
    measures: true,
    pick(c) {
      const now = ctx.now();
      return c.count <= SCAN_LIMIT ? scan(c, now) : sample(c, now, pair);
    },
  };
}

function scan(c: Candidates, now: number): number {
  const { indices, count } = c;
  const { slots, table } = c.view;
  const start = nextTurn(c) % count;
  let best = indices[start];
  let lowest = cost(table, slots[best], now);
  for (let k = 1; k < count; k++) {
    const i = indices[(start + k) % count];
    const x = cost(table, slots[i], now);
    if (x < lowest) {
      best = i;
      lowest = x;
    }
  }
  return best;
}

function sample(c: Candidates, now: number, pair: Int32Array): number {
  twoCandidates(c, pair);
  const { slots, table } = c.view;
  return cost(table, slots[pair[1]], now) < cost(table, slots[pair[0]], now) ? pair[1] : pair[0];
}
