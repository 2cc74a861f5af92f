import type { NodeRecord, ServiceRecord } from '../registry/registry';

/**
 * The Selector contract: choose a node for each attempt of a call. `select` resolves the candidate nodes once per
 * call; `next()` is then called once per attempt, so a retry can reach another node. `mark` feeds every attempt's
 * outcome back so strategies (least in-flight, latency) and breakers can learn from it.
 *
 * The rule callers follow: every node `next()` hands out is marked exactly once, with the attempt's error (any
 * error, handler errors included: the selector decides what counts as a failure) or none. Strategies that count
 * in-flight calls and breakers that hand out half-open trial permits rely on that balance.
 */

export interface SelectedNode extends NodeRecord {
  /** The version of the service record the node came from. */
  version: string;
}

export type NodeFilter = (nodes: SelectedNode[], services: ServiceRecord[]) => SelectedNode[];

export interface SelectOptions {
  filters?: NodeFilter[];
  /** Name of the strategy for this call; the selector's default when absent. */
  strategy?: string;
  /** Only nodes of this version. */
  version?: string;
  /** Only nodes whose metadata carries every one of these labels with the same value. */
  labels?: Record<string, string>;
  /** The endpoint being called: breakers are kept per node and endpoint. */
  endpoint?: string;
  /** The key the `hash` strategy maps to a node (the same key reaches the same node while the set is stable). */
  key?: string;
}

/** What an attempt came to, besides its error. */
export interface MarkInfo {
  /** The endpoint called (breakers are per node and endpoint). */
  endpoint?: string;
  /** The attempt's round trip in ms, when it got an answer (feeds the `latency` strategy). */
  rtt?: number;
}

/** Returns the node for the next attempt, or undefined when none is available. */
export type Next = () => SelectedNode | undefined;

export interface Selector {
  readonly name: string;
  /** Synchronous when the nodes are already known (the warm path), a promise when the registry must be asked. */
  select(service: string, options?: SelectOptions): Next | Promise<Next>;
  /** Reports the outcome of one attempt on `node`; see the rule above. */
  mark(service: string, node: SelectedNode, error?: Error, info?: MarkInfo): void;
  /** Reports a connection to `address` that died (a missed heartbeat): its nodes are avoided for a while. */
  markAddress?(address: string, error: Error): void;
  /** Calls `listener` on every circuit breaker state change; returns the function that stops it. */
  onBreakerChange?(listener: BreakerListener): () => void;
  /** Every breaker the selector keeps, as it stands now (for metrics and health pages). */
  breakerStates?(): BreakerSnapshot[];
  close(): Promise<void>;
}

/** `closed`: calls flow. `open`: the node is out of selection for the endpoint. `half-open`: a few trial calls pass. */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerEvent {
  service: string;
  /** The endpoint the breaker guards ('' when calls did not name one). */
  endpoint: string;
  /** The node id. */
  node: string;
  address: string;
  from: BreakerState;
  to: BreakerState;
  /** Why: "5 consecutive failures", "failure ratio 0.62 over 21 calls", "pause over", "trial failed", "trials passed". */
  reason: string;
}

export type BreakerListener = (event: BreakerEvent) => void;

export interface BreakerSnapshot {
  service: string;
  endpoint: string;
  node: string;
  address: string;
  state: BreakerState;
  /** Calls and failures counted in the rolling window (closed state). */
  requests: number;
  failures: number;
  consecutiveFailures: number;
  /** When an open breaker goes half-open (ms, the selector's clock); 0 otherwise. */
  retryAt: number;
}
