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
  const states = c.view.states;
  const start = nextTurn(c) % count;
  let best = indices[start];
  let least = states[best].inflight;
  for (let k = 1; k < count && least > 0; k++) {
    const i = indices[(start + k) % count];
    if (states[i].inflight < least) {
      best = i;
      least = states[i].inflight;
    }
  }
  return best;
}

const pair = new Int32Array(2);

function sample(c: Candidates): number {
  twoCandidates(c, pair);
  const states = c.view.states;
  return states[pair[1]].inflight < states[pair[0]].inflight ? pair[1] : pair[0];
}
