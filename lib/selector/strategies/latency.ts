import type { Candidates } from '../candidates';
import type { NodeState } from '../state';
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

/** Feeds one observed round trip (ms) into the node's average, kept in whole µs (see state.ts). */
export function observe(st: NodeState, rtt: number, now: number): void {
  const us = Math.round(rtt * 1000);
  if (now - st.sampledAt > STALE_AFTER) st.ewma = us;
  else st.ewma += Math.round(EWMA_ALPHA * (us - st.ewma));
  st.sampledAt = now;
}

function cost(st: NodeState, now: number): number {
  if (now - st.sampledAt > STALE_AFTER) return st.inflight === 0 ? -1 : 1e15 + st.inflight; // measure it, once
  return st.ewma * (st.inflight + 1);
}

export function latency(ctx: StrategyContext): Strategy {
  const pair = new Int32Array(2);
  return {
    name: 'latency',
    pick(c) {
      const now = ctx.now();
      return c.count <= SCAN_LIMIT ? scan(c, now) : sample(c, now, pair);
    },
  };
}

function scan(c: Candidates, now: number): number {
  const { indices, count } = c;
  const states = c.view.states;
  const start = nextTurn(c) % count;
  let best = indices[start];
  let lowest = cost(states[best], now);
  for (let k = 1; k < count; k++) {
    const i = indices[(start + k) % count];
    const x = cost(states[i], now);
    if (x < lowest) {
      best = i;
      lowest = x;
    }
  }
  return best;
}

function sample(c: Candidates, now: number, pair: Int32Array): number {
  twoCandidates(c, pair);
  const states = c.view.states;
  return cost(states[pair[1]], now) < cost(states[pair[0]], now) ? pair[1] : pair[0];
}
