import type { Candidates } from '../candidates';

/**
 * A load-balancing strategy picks one of the candidates for an attempt. Candidate lists are never empty when a
 * strategy sees them, and are cached (see candidates.ts), so `pick` must not scan them: per call, every strategy
 * here costs O(1), O(log n) or O(distinct weights), and compares at most SCAN_LIMIT nodes.
 */
export interface Strategy {
  readonly name: string;
  /**
   * The view index (into `c.view.nodes`) for attempt `attempt` (0 for the first) of a call. `key` is the hashed
   * `SelectOptions.key`, or -1 when the call has none.
   */
  pick(c: Candidates, attempt: number, key: number): number;
  /** True when the strategy reads `key` (the selector hashes `SelectOptions.key` only then). */
  readonly keyed?: boolean;
  /** True when the strategy reads round-trip averages (the selector keeps them only once such a strategy is used). */
  readonly measures?: boolean;
}

export interface StrategyContext {
  /** The selector's clock, in ms. */
  now: () => number;
}

/** Candidate lists up to this size are scanned by the strategies that compare nodes; larger ones are sampled. */
export const SCAN_LIMIT = 8;

/** A uniformly random candidate (view index). */
export function anyCandidate(c: Candidates): number {
  const k = Math.floor(Math.random() * c.count);
  return c.whole ? k : c.indices[k];
}

/** Two different random candidates (view indexes), for the power-of-two-choices strategies; needs c.count >= 2. */
export function twoCandidates(c: Candidates, out: Int32Array): void {
  const a = Math.floor(Math.random() * c.count);
  let b = Math.floor(Math.random() * (c.count - 1));
  if (b >= a) b++;
  out[0] = c.whole ? a : c.indices[a];
  out[1] = c.whole ? b : c.indices[b];
}

/** The candidate list's turn, advanced by one (wrapping long before it could lose precision). */
export function nextTurn(c: Candidates): number {
  const rotor = c.rotor;
  const turn = rotor.turn;
  rotor.turn = turn >= 0x3fffffff ? 0 : turn + 1;
  return turn;
}
