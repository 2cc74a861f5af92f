import { request } from 'node:http';
import { eventually } from '../../helpers/process';
import { closeAll, splitAddress, startFixture } from './helpers';

/** Streaming endpoints over HTTP: server-sent events (POST and GET), cancel on disconnect, client and bidi streams. */

afterEach(closeAll);

interface SseEvent {
  event: string;
  data: string;
}

function parseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() && !block.startsWith(':'))
    .map((block) => {
      const e: SseEvent = { event: 'message', data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) e.data += line.slice(6);
      }
      return e;
    });
}

const SSE = { accept: 'text/event-stream' };

describe('server-sent events', () => {
  test('each item is a data event, then an end event with the count', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/gw/count', body: { to: 50 }, headers: SSE });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(r.headers['cache-control']).toBe('no-cache');
    const events = parseEvents(r.text);
    expect(events.slice(0, -1).map((e) => JSON.parse(e.data).i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(events.slice(0, -1).every((e) => e.event === 'message')).toBe(true);
    expect(events[events.length - 1]).toEqual({ event: 'end', data: '{"count":50}' });
  });

  test('GET with the request in ?request= works for EventSource', async () => {
    const { call } = await startFixture();
    const r = await call({ method: 'GET', path: `/gw/count?request=${encodeURIComponent('{"to":3}')}`, headers: SSE });
    expect(parseEvents(r.text).map((e) => e.data)).toEqual(['{"i":0}', '{"i":1}', '{"i":2}', '{"count":3}']);
  });

  test('a failure mid-stream is an error event after the items before it', async () => {
    const { call } = await startFixture();
    const events = parseEvents((await call({ path: '/gw/failAfter', body: { items: 2 }, headers: SSE })).text);
    expect(events).toEqual([
      { event: 'message', data: '0' },
      { event: 'message', data: '1' },
      { event: 'error', data: JSON.stringify({ id: 'gw.failAfter', code: 409, detail: 'gave up after 2' }) },
    ]);
  });

  test('a stream past its deadline ends with a 504 error event', async () => {
    const { call } = await startFixture();
    const r = await call({ path: '/gw/endless', body: { every: 10 }, headers: { ...SSE, 'x-phobos-timeout': '200ms' } });
    const events = parseEvents(r.text);
    expect(events.length).toBeGreaterThan(2);
    expect(events[events.length - 1].event).toBe('error');
    expect(JSON.parse(events[events.length - 1].data).code).toBe(504);
  });

  test('a refused stream call is a plain HTTP error: 400 for a bad request, 406 without the event-stream Accept', async () => {
    const { call } = await startFixture();
    const bad = await call({ path: '/gw/count', body: { to: -1 }, headers: SSE });
    expect(bad).toMatchObject({ status: 400, json: { id: 'gw.count', code: 400 } });
    const plain = await call({ path: '/gw/count', body: { to: 1 } });
    expect(plain).toMatchObject({ status: 406, json: { code: 406 } });
    expect(plain.json.detail).toMatch(/Accept: text\/event-stream/);
    expect((await call({ method: 'GET', path: '/gw/echo?request={}', headers: SSE })).status).toBe(405);
  });

  test('the client disconnecting cancels the call: the handler\'s signal aborts and its finally runs', async () => {
    const { gateway, fixture } = await startFixture();
    const [host, port] = splitAddress(gateway.address);
    let received = '';
    const req = request({ host, port, method: 'POST', path: '/gw/endless', headers: { ...SSE, 'content-type': 'application/json' }, agent: false });
    req.on('error', () => {});
    req.on('response', (res) => res.on('data', (c: Buffer) => (received += c.toString())));
    req.end('{"every":5}');
    await eventually(() => parseEvents(received).length >= 5, 5000);
    req.destroy();
    await eventually(() => fixture.finallyRuns === 1, 5000);
    expect(fixture.abortReasons).toEqual(['499']);
    // Nothing more is produced once the call is over.
    const produced = fixture.produced;
    await new Promise((r) => setTimeout(r, 60));
    expect(fixture.produced).toBe(produced);
  });

  test('a client stream takes a JSON array and answers once; a bidi stream answers with events', async () => {
    const { call } = await startFixture();
    const sum = await call({ path: '/gw/sum', body: [{ n: 1 }, { n: 2 }, { n: 39 }] });
    expect(sum).toMatchObject({ status: 200, json: { total: 42 } });
    const invalid = await call({ path: '/gw/sum', body: [{ n: 1 }, { n: 'x' }] });
    expect(invalid).toMatchObject({ status: 400, json: { id: 'gw.sum' } });
    expect(invalid.json.issues.map((i: { path: string }) => i.path)).toEqual(['n']);
    expect((await call({ path: '/gw/sum', body: { n: 1 } })).status).toBe(400);
    const bidi = await call({ path: '/gw/double', body: [{ n: 1 }, { n: 5 }], headers: SSE });
    expect(parseEvents(bidi.text).map((e) => e.data)).toEqual(['{"n":2}', '{"n":10}', '{"count":2}']);
  });
});
