/**
 * The Broker contract: publish events to topics; subscribers receive them. Subscribers that share a `queue` split the
 * events among themselves (each event goes to one of them); subscribers without a queue each get every event.
 */

export interface Event {
  topic: string;
  /** Already-encoded body plus its codec id, so brokers move bytes and never need to know the payload. */
  codec: number;
  body: Uint8Array;
  metadata: Record<string, string>;
}

export type EventHandler = (event: Event) => Promise<void> | void;

export interface SubscribeOptions {
  queue?: string;
  /**
   * Ask the broker to keep events until a subscriber acknowledges them (engines that support it). The handler's
   * promise resolving is the acknowledgement; a rejection asks for redelivery where the engine can.
   */
  durable?: boolean;
}

export interface Subscription {
  readonly topic: string;
  readonly queue?: string;
  unsubscribe(): Promise<void>;
}

export interface PublishOptions {
  /** Milliseconds the publish may take before failing with 408. */
  timeout?: number;
}

export interface Broker {
  readonly name: string;
  /** Prepare connections/listeners; called by the Service before subscribing. Idempotent. */
  connect(): Promise<void>;
  publish(event: Event, options?: PublishOptions): Promise<void>;
  subscribe(topic: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription>;
  /** Unsubscribes everything and releases resources. */
  close(): Promise<void>;
}
