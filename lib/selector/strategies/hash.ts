import type { Candidates } from '../candidates';
import { buildRing, firstPoint } from '../ring';
import { anyCandidate, type Strategy } from './strategy';

/**
 * Consistent hashing on `SelectOptions.key`: the key's point on the ring, then clockwise to the first candidate.
 * Attempt k of a call takes the k-th distinct candidate clockwise, so retries walk to the next nodes in ring order.
 * Nodes out of selection (breaker open, cooling) are skipped without rebuilding the ring: their keys go to the
 * next node and come back when they recover. No key: random.
 */
export const hash: Strategy = {
  name: 'hash',
  keyed: true,
  pick(c, attempt, key) {
    if (key < 0) return anyCandidate(c);
    const view = c.view;
    const ring = (view.ring ??= buildRing(view.nodes.map((n) => n.id)));
    return walk(c, ring.owners, firstPoint(ring, key), attempt % c.count);
  },
};

function walk(c: Candidates, owners: Int32Array, from: number, skip: number): number {
  const mask = c.mask;
  const n = owners.length;
  let seen: number[] | undefined;
  for (let step = 0, p = from; step < n; step++, p = p + 1 === n ? 0 : p + 1) {
    const owner = owners[p];
    if (mask[owner] === 0) continue;
    if (skip === 0) return owner;
    seen ??= [];
    if (seen.includes(owner)) continue;
    seen.push(owner);
    if (seen.length > skip) return owner;
  }
  return anyCandidate(c); // unreachable while every candidate is on the ring
}
