import { RpcError } from '../../errors';
import { StreamTable } from '../stream-channel';
import { type Message, MessageKind, TRANSPORT_ERROR_ID } from '../transport';
import { type Frame, FrameError, inflateInPlace } from './frame';
import type { FrameWriter } from './writer';

/**
 * The streams of one tcp connection, client or server side: their frames go out through the connection's writer
 * (batched with everything else written in the same tick) and inbound ones are inflated before the table sees them.
 * The flow control itself is the transport-independent StreamChannel's (lib/transport/stream-channel.ts).
 */
export class TcpStreams {
  readonly table: StreamTable;

  constructor(
    private readonly writer: FrameWriter,
    private readonly maxFrameSize: number,
    onRelease?: (id: number) => void,
  ) {
    this.table = new StreamTable((m) => this.write(m), onRelease);
  }

  /** True for the kinds only streams use: data, end and credit. */
  static carries(kind: number): boolean {
    return kind === MessageKind.data || kind === MessageKind.end || kind === MessageKind.credit;
  }

  /**
   * An inbound data, end or credit frame, or the response to a stream call. Frames for streams not open here are
   * dropped (a stream that just ended or was cancelled may still have frames on the way). Throws FrameError, which
   * closes the connection, when the peer broke the protocol (data past its window, credit overflow).
   */
  receive(f: Frame): void {
    if (!this.table.has(f.id)) return;
    const refused = inflateInPlace(f, this.maxFrameSize);
    if (refused) return this.table.refused(f.id, new RpcError(TRANSPORT_ERROR_ID, refused.code, refused.reason));
    const problem = this.table.receive(f);
    if (problem) throw new FrameError(problem);
  }

  private write(m: Message): void {
    try {
      this.writer.write(m, m.id);
    } catch (err) {
      const e = err as FrameError;
      throw new RpcError(TRANSPORT_ERROR_ID, e.code || 400, `stream frame not sendable: ${e.message}`);
    }
  }
}
