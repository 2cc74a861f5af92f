import { anyCandidate, type Strategy } from './strategy';

/** Uniformly random; retries are steered away from the node that just failed by the selector. */
export const random: Strategy = {
  name: 'random',
  pick: anyCandidate,
};
