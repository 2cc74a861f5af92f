/**
 * The Registry contract: where services announce their nodes and where clients find them. Records carry endpoint
 * schemas (JSON Schema) so gateways, the CLI and other languages can use them without our type definitions.
 */

export interface EndpointRecord {
  name: string;
  /** JSON Schema of the request, when known. */
  request?: JsonSchema;
  response?: JsonSchema;
  metadata?: Record<string, string>;
}

export type JsonSchema = Record<string, unknown>;

export interface NodeRecord {
  /** Unique per process instance: `${service}-${random}`. */
  id: string;
  /** `host:port` reachable by clients over the transport named in metadata.transport. */
  address: string;
  metadata: Record<string, string>;
}

export interface ServiceRecord {
  name: string;
  version: string;
  metadata: Record<string, string>;
  endpoints: EndpointRecord[];
  nodes: NodeRecord[];
}

export interface RegisterOptions {
  /** Seconds the registration lives without being renewed. */
  ttl?: number;
}

export type WatchAction = 'create' | 'update' | 'delete';

export interface WatchEvent {
  action: WatchAction;
  /** The record concerned; on delete, `nodes` holds the nodes that left. */
  service: ServiceRecord;
}

/** An async iterator of changes; `stop()` ends it (the pending `next()` resolves done). */
export interface Watcher extends AsyncIterable<WatchEvent> {
  next(): Promise<IteratorResult<WatchEvent>>;
  stop(): void;
}

export interface Registry {
  readonly name: string;
  /** Registers (or renews) the nodes of `service`. Registering the same node again refreshes its TTL. */
  register(service: ServiceRecord, options?: RegisterOptions): Promise<void>;
  /** Removes the nodes of `service` listed in the record. */
  deregister(service: ServiceRecord): Promise<void>;
  /** Every version of the service currently known, each with its live nodes; [] when unknown. */
  getService(name: string): Promise<ServiceRecord[]>;
  listServices(): Promise<ServiceRecord[]>;
  watch(options?: { service?: string }): Watcher;
  /** Releases sockets, connections and timers. */
  close(): Promise<void>;
}
