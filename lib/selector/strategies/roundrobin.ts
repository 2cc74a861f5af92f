import type { Strategy } from './strategy';

/** Each candidate in turn. The turn lives on the candidate list (per service, filter and endpoint). */
export const roundRobin: Strategy = {
  name: 'roundrobin',
  pick(c) {
    const turn = c.turn;
    c.turn = turn >= 0x3fffffff ? 0 : turn + 1;
    return c.indices[turn % c.count];
  },
};
