import { hash } from './hash';
import { latency } from './latency';
import { leastInflight } from './leastinflight';
import { random } from './random';
import { roundRobin } from './roundrobin';
import type { Strategy, StrategyContext } from './strategy';
import { weighted } from './weighted';

export type { Strategy, StrategyContext } from './strategy';

/** Every strategy by name; each is also registered as a `--selector=<name>` plugin. */
export const STRATEGIES: Record<string, (ctx: StrategyContext) => Strategy> = {
  random: () => random,
  roundrobin: () => roundRobin,
  weighted: () => weighted,
  hash: () => hash,
  leastinflight: () => leastInflight,
  latency,
};
