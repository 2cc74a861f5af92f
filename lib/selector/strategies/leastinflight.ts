import type { Candidates } from '../candidates';
import { nextTurn, SCAN_LIMIT, twoCandidates, type Strategy } from './strategy';

/**
 * Fewest attempts in flight (handed out by `next()` and not yet marked). Small lists are scanned from a rotating
 * start, so ties (every node idle, as under sequential traffic) take turns instead of all landing on the first node.
 * Larger lists use the power of two choices: two random candidates, the less busy wins; that keeps the cost flat in
 * the number of nodes and still bounds the imbalance to O(log log n).
 */
export const leastInflight: Strategy = {
  name: 'leastinflight',
  pick(c) {
    return c.count <= SCAN_LIMIT ? scan(c) : sample(c);
  },
};

function scan(c: Candidates): number {
  const { indices, count } = c;
  const { slots, table } = c.view;
  const start = nextTurn(c) % count;
  let best = indices[start];
  let least = table.inflight(slots[best]);
  for (let k = 1; k < count && least > 0; k++) {
    const i = indices[(start + k) % count];
    const n = table.inflight(slots[i]);
    if (n < least) {
      best = i;
      least = n;
    }
  }
  return best;
}

const pair = new Int32Array(2);

function sample(c: Candidates): number {
  twoCandidates(c, pair);
  const { slots, table } = c.view;
  return table.inflight(slots[pair[1]]) < table.inflight(slots[pair[0]]) ? pair[1] : pair[0];
}
