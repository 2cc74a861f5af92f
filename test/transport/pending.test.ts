import { RpcError } from '../../lib/errors';
import { PendingRequests, refuseEarly } from '../../lib/transport/pending';
import { type Message, MessageKind } from '../../lib/transport/transport';

/**
 * The pending-request table every multiplexing client (tcp, grpc, nats, memory) keeps its calls in. The transports'
 * own tests cover it through real connections; these pin what the owners rely on: one timer serving every deadline
 * in order, the abandoned hook exactly when the peer must hear a cancel, every exit through `released`, and a table
 * that keeps working after failAll (nats fails everything on a disconnect and goes on after the reconnect).
 */

const response = (id: number): Message => ({
  kind: MessageKind.response,
  id,
  codec: 2,
  service: '',
  endpoint: '',
  timeout: 0,
  metadata: undefined,
  error: false,
  body: Buffer.from('ok'),
});

function table() {
  const abandoned: [number, number][] = [];
  const released: number[] = [];
  const pending = new PendingRequests<number, string>({
    abandoned: (id, err) => abandoned.push([id, err.code]),
    released: (id) => released.push(id),
  });
  return { pending, abandoned, released };
}

/** How a promise ends: the value, or the RpcError code it failed with, and when (ms after `t0`). */
async function outcome(p: Promise<Message>, t0: number): Promise<{ code: number | 'ok'; at: number }> {
  try {
    await p;
    return { code: 'ok', at: performance.now() - t0 };
  } catch (err) {
    return { code: (err as RpcError).code, at: performance.now() - t0 };
  }
}

describe('PendingRequests', () => {
  it('fails each request at its own deadline with 408, earliest first, and tells the owner to cancel it', async () => {
    const { pending, abandoned, released } = table();
    const t0 = performance.now();
    // Added latest-deadline first: the timer must re-arm earlier, then walk forward.
    const late = outcome(pending.add(3, 150, undefined, 'c'), t0);
    const middle = outcome(pending.add(2, 90, undefined, 'b'), t0);
    const early = outcome(pending.add(1, 30, undefined, 'a'), t0);
    const results = await Promise.all([early, middle, late]);
    expect(results.map((r) => r.code)).toEqual([408, 408, 408]);
    expect(results[0].at).toBeGreaterThanOrEqual(29);
    expect(results[1].at).toBeGreaterThanOrEqual(89);
    expect(results[2].at).toBeGreaterThanOrEqual(149);
    expect(abandoned).toEqual([[1, 408], [2, 408], [3, 408]]);
    expect(released).toEqual([1, 2, 3]);
    expect(pending.size).toBe(0);
  });

  it('hands a request to take() once, with its context, and never expires it afterwards', async () => {
    const { pending, abandoned } = table();
    const answered = pending.add(7, 40, undefined, 'ctx-7');
    const call = pending.take(7);
    expect(call?.context).toBe('ctx-7');
    expect(call?.timeout).toBe(40);
    expect(pending.take(7)).toBeUndefined();
    call!.resolve(response(7));
    expect((await answered).id).toBe(7);
    // A second request proves the timer still runs; the first one must not be given up with it.
    const t0 = performance.now();
    expect((await outcome(pending.add(8, 60, undefined, 'ctx-8'), t0)).code).toBe(408);
    expect(abandoned).toEqual([[8, 408]]);
  });

  it('fails an aborted request with 499 and cancels it; an abort after the answer does nothing', async () => {
    const { pending, abandoned } = table();
    const aborting = new AbortController();
    const answeredFirst = new AbortController();
    const aborted = outcome(pending.add(1, 5_000, aborting.signal, ''), performance.now());
    const answered = pending.add(2, 5_000, answeredFirst.signal, '');
    pending.take(2)!.resolve(response(2));
    aborting.abort();
    answeredFirst.abort();
    expect((await aborted).code).toBe(499);
    expect((await answered).id).toBe(2);
    expect(abandoned).toEqual([[1, 499]]);
    pending.failAll(new Error('cleanup'));
  });

  it('failAll rejects everything with its error and cancels nothing; later requests still time out', async () => {
    const { pending, abandoned, released } = table();
    const gone = new RpcError('transport', 503, 'connection lost');
    const a = pending.add(1, 50, undefined, '');
    const b = pending.add(2, 50, new AbortController().signal, '');
    pending.failAll(gone);
    await expect(a).rejects.toBe(gone);
    await expect(b).rejects.toBe(gone);
    expect(released).toEqual([1, 2]);
    // The timer was cleared with the table, so a later deadline than the one it was armed for must arm a new one.
    const t0 = performance.now();
    const after = await outcome(pending.add(3, 120, undefined, ''), t0);
    expect(after.code).toBe(408);
    expect(after.at).toBeLessThan(1_000);
    expect(abandoned).toEqual([[3, 408]]);
  });

  it('refuses early: an aborted signal (499) before a spent deadline (408), else nothing', () => {
    const aborted = AbortSignal.abort();
    expect(refuseEarly({ timeout: 0, signal: aborted })?.code).toBe(499);
    expect(refuseEarly({ timeout: 0 })?.code).toBe(408);
    expect(refuseEarly({ timeout: -5 })?.code).toBe(408);
    expect(refuseEarly({ timeout: NaN })?.code).toBe(408);
    expect(refuseEarly({ timeout: 10 })).toBeUndefined();
  });
});
