import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../lib/observe/logger';
import { errorResponse } from '../../lib/transport/error-response';
import type { Frame } from '../../lib/transport/tcp/frame';
import { type Listener, type Message, MessageKind, type PeerInfo, type RequestHandler } from '../../lib/transport/transport';
import { withDeadline } from '../../lib/deadlines';
import type { NatsConnector } from './connection';
import { FrameError, frameBytes, readFrame } from './frames';
import { serviceCancelSubject, serviceSubject, subjectTokens } from './subjects';

/**
 * The serving half of the NATS transport. A listener subscribes to its node subject (what the registry announces)
 * and, when it knows its service, to the service subject in queue group <service> (NATS gives each request to one
 * node) and to the service's cancel subject. Each request is keyed by its reply subject, unique per request, so a
 * cancel (a cancel frame sent with the same reply subject) finds the handler to abort whichever subject it came on.
 */
export class NatsListener implements Listener {
  private readonly subs: Subscription[] = [];
  /** reply subject -> cancel callback of the request in flight. */
  private readonly cancels = new Map<string, () => void>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly conn: NatsConnector,
    nc: NatsConnection,
    readonly address: string,
    service: string | undefined,
    private readonly handler: RequestHandler,
    private readonly logger: Logger,
  ) {
    const callback = (err: Error | null, msg: Msg) => (err ? undefined : this.onMessage(msg));
    this.subs.push(nc.subscribe(address, { callback }));
    if (service) {
      this.subs.push(nc.subscribe(serviceSubject(service), { queue: subjectTokens(service), callback }));
      this.subs.push(nc.subscribe(serviceCancelSubject(service), { callback }));
    }
  }

  /** Resolves once the server has the subscriptions: a request sent after this reaches us. */
  async live(nc: NatsConnection): Promise<void> {
    await withDeadline(nc.flush(), 5000, () => new Error('NATS did not confirm the subscriptions within 5 s'));
  }

  /**
   * Unsubscribes, then flushes so the server has processed it before close() resolves: from then on a request to
   * this node gets "no responders" (503) at once. Handlers still running may reply: the connection stays open.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const s of this.subs.splice(0)) s.unsubscribe();
      if (!this.conn.connected) return;
      await withDeadline(this.conn.requireConnected().flush(), 2000, () => new Error('flush timed out')).catch(() => undefined);
    })();
    return this.closing;
  }

  private onMessage(msg: Msg): void {
    let frame: Frame;
    try {
      frame = readFrame(msg.data, this.conn.maxPayload);
    } catch (err) {
      const code = err instanceof FrameError ? err.code : 0;
      this.logger.warn({ subject: msg.subject, err: (err as Error).message }, 'dropped a malformed NATS transport frame');
      // A frame that parsed far enough to be refused (413 after inflating, say) still gets an answer.
      if (code && msg.reply) this.send(msg.reply, undefined, code, (err as Error).message);
      return;
    }
    if (!msg.reply) return; // nowhere to answer, and no key to cancel by
    if (frame.kind === MessageKind.cancel) {
      const cancel = this.cancels.get(msg.reply);
      this.cancels.delete(msg.reply);
      cancel?.();
      return;
    }
    if (frame.kind !== MessageKind.request) return;
    this.serve(frame, msg.reply);
  }

  private serve(request: Frame, reply: string): void {
    const peer: PeerInfo = {
      remote: reply.slice(0, reply.lastIndexOf('.')),
      onCancel: (_id, cb) => this.cancels.set(reply, cb),
      clearCancel: () => this.cancels.delete(reply),
    };
    let answered = false;
    const respond = (response: Message) => {
      if (answered) return;
      answered = true;
      this.cancels.delete(reply);
      this.send(reply, request, 0, '', response);
    };
    try {
      this.handler(request, respond, peer);
    } catch (err) {
      this.logger.error({ err }, 'NATS transport request handler threw');
      respond(errorResponse(request, 500, 'request handler failed'));
    }
  }

  /** Publishes `response` (or an error reply with `code`) to `reply`; a reply too big for NATS becomes a 413 error. */
  private send(reply: string, request: Frame | undefined, code: number, detail: string, response?: Message): void {
    const fallback: Message = request ?? { kind: MessageKind.request, id: 0, codec: 2, service: '', endpoint: '', timeout: 0, metadata: undefined, error: false, body: Buffer.alloc(0) };
    let out = response ?? errorResponse(fallback, code, detail);
    let bytes: Buffer;
    try {
      bytes = frameBytes(out, out.id, this.conn.maxPayload);
    } catch (err) {
      out = errorResponse(fallback, (err as FrameError).code || 500, `reply not sendable: ${(err as Error).message}`);
      bytes = frameBytes(out, out.id, this.conn.maxPayload);
    }
    // While NATS is down the caller has already failed with 503; the client would only buffer this for later.
    if (!this.conn.connected) return;
    try {
      this.conn.requireConnected().publish(reply, bytes);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not publish a NATS transport reply');
    }
  }
}
