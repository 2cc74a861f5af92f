import { nextTurn, type Strategy } from './strategy';

/** Each candidate in turn. The turn lives with the candidate list (per service, filters and endpoint). */
export const roundRobin: Strategy = {
  name: 'roundrobin',
  pick(c) {
    return c.indices[nextTurn(c) % c.count];
  },
};
