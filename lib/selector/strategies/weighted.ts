import type { Candidates } from '../candidates';
import type { Strategy } from './strategy';

/**
 * Smooth weighted round-robin, exactly as nginx: each pick adds every node's weight to its current value, takes the
 * node with the highest (the first in list order on a tie) and subtracts the total weight from it. Weights {a:5,
 * b:1, c:1} give a a b a c a a, and the sequence repeats every `total` picks.
 *
 * Done literally that is O(nodes) per pick. Nodes of equal weight, though, always take their turns in list order,
 * so the cycle keeps one counter per distinct weight and compares only the next node of each weight class: the same
 * sequence in O(distinct weights) per pick. The cycle belongs to one candidate list, so a change of the candidates
 * starts a new cycle over the new set, as nginx does when an upstream is reconfigured.
 */
export class WeightedCycle {
  private readonly weight: Float64Array;
  /** Class c's members (view indexes, list order) are members[start[c] .. start[c+1]). */
  private readonly start: Int32Array;
  private readonly members: Int32Array;
  /** Per class: the member whose turn it is, and how many times every member has been picked so far. */
  private readonly pos: Int32Array;
  private readonly rounds: Float64Array;
  private readonly total: number;
  private step = 0;

  constructor(indices: Int32Array, weights: Int32Array) {
    const classes = new Map<number, number[]>();
    let total = 0;
    for (const i of indices) {
      const w = weights[i];
      total += w;
      const list = classes.get(w);
      if (list) list.push(i);
      else classes.set(w, [i]);
    }
    const m = classes.size;
    this.weight = new Float64Array(m);
    this.start = new Int32Array(m + 1);
    this.members = new Int32Array(indices.length);
    let c = 0;
    let at = 0;
    for (const [w, list] of classes) {
      this.weight[c] = w;
      this.start[c] = at;
      for (const i of list) this.members[at++] = i;
      c++;
    }
    this.start[m] = at;
    this.pos = new Int32Array(m);
    this.rounds = new Float64Array(m);
    this.total = total;
  }

  next(): number {
    if (this.step === this.total) {
      // Every node was picked exactly `weight` times and every current value is back to zero: a new cycle.
      this.step = 0;
      this.pos.fill(0);
      this.rounds.fill(0);
    }
    const k = ++this.step;
    const total = this.total;
    let best = 0;
    let bestCurrent = Number.NEGATIVE_INFINITY;
    let bestIndex = 0;
    for (let c = 0; c < this.weight.length; c++) {
      // The current value of class c's next member after k additions: k*w - total*(times it was picked).
      const current = k * this.weight[c] - total * this.rounds[c];
      const index = this.members[this.start[c] + this.pos[c]];
      if (current > bestCurrent || (current === bestCurrent && index < bestIndex)) {
        best = c;
        bestCurrent = current;
        bestIndex = index;
      }
    }
    if (++this.pos[best] === this.start[best + 1] - this.start[best]) {
      this.pos[best] = 0;
      this.rounds[best]++;
    }
    return bestIndex;
  }
}

export const weighted: Strategy = {
  name: 'weighted',
  pick(c) {
    // A per-call list (custom filters) would start a fresh cycle every call: draw in proportion to weight instead.
    if (c.subset) return weightedDraw(c);
    return (c.cycle ??= new WeightedCycle(c.indices, c.view.weights())).next();
  },
};

function weightedDraw(c: Candidates): number {
  const weights = c.view.weights();
  let total = 0;
  for (let k = 0; k < c.count; k++) total += weights[c.indices[k]];
  let r = Math.random() * total;
  for (let k = 0; k < c.count; k++) {
    r -= weights[c.indices[k]];
    if (r < 0) return c.indices[k];
  }
  return c.indices[c.count - 1];
}
