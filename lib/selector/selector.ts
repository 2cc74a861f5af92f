import type { NodeRecord, ServiceRecord } from '../registry/registry';

/**
 * The Selector contract: choose a node for each attempt of a call. `select` resolves the candidate nodes once per
 * call; `next()` is then called once per attempt, so a retry can reach another node. `mark` feeds results back so
 * strategies and breakers can learn from failures.
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
}

/** Returns the node for the next attempt, or undefined when none is available. */
export type Next = () => SelectedNode | undefined;

export interface Selector {
  readonly name: string;
  /** Synchronous when the nodes are already known (the warm path), a promise when the registry must be asked. */
  select(service: string, options?: SelectOptions): Next | Promise<Next>;
  mark(service: string, node: SelectedNode, error?: Error): void;
  close(): Promise<void>;
}
