import { JsonCodec } from '../../lib/codec';
import { Pool } from '../../lib/client/pool';
import { TcpTransport } from '../../lib/transport/tcp';
import { type ClientSocket, type Message, MessageKind } from '../../lib/transport/transport';
import { Child, eventually, killAll, uniqueName } from '../helpers/process';
import { captureLogger, rejection } from './helpers';

/**
 * A frozen peer: a real server process stopped with SIGSTOP keeps its socket open (the kernel still ACKs), so only a
 * heartbeat can tell it is gone. The client's pool must drop the connection, fail what was waiting, report the node,
 * and reconnect once the process runs again.
 */

const json = new JsonCodec();
let child: Child | undefined;

afterEach(async () => {
  // A stopped child ignores SIGKILL until continued on some systems; continue it first, always.
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGCONT');
  child = undefined;
  await killAll();
});

function call(socket: ClientSocket, service: string, endpoint: string, body: unknown, timeout: number): Promise<Message> {
  const message: Message = {
    kind: MessageKind.request,
    id: 0,
    codec: json.id,
    service,
    endpoint,
    timeout,
    metadata: undefined,
    error: false,
    body: json.encode(body),
  };
  return socket.request(message, { timeout });
}

test('a SIGSTOPped server is dropped by the heartbeat, reported through onDead, and reconnected after SIGCONT', async () => {
  const name = uniqueName('frozen');
  child = new Child('test/fixtures/service-process.js', [], { FIXTURE_NAME: name, PHOBOS_REGISTRY: 'memory', PHOBOS_BROKER: 'memory' });
  const [, address] = await child.waitFor(/^READY (\S+) /);

  const log = captureLogger();
  const dead: [string, Error][] = [];
  const pool = new Pool(new TcpTransport({ heartbeatInterval: 200, heartbeatTimeout: 200, logger: log.logger }), {
    backoff: { base: 300, max: 1_000 },
    onDead: (addr, err) => dead.push([addr, err]),
  });
  try {
    const socket = await pool.get(address);
    expect(json.decode((await call(socket, name, 'echo', { n: 1 }, 5_000)).body)).toEqual({ n: 1 });

    // A call the frozen server will never answer, with a deadline far beyond the heartbeat's.
    const pending = call(socket, name, 'slow', { ms: 60_000 }, 30_000);
    child.proc.kill('SIGSTOP');
    const stoppedAt = performance.now();
    const err = await rejection(pending);
    const took = performance.now() - stoppedAt;
    console.log(`frozen server dropped ${took.toFixed(0)} ms after SIGSTOP (interval 200 + timeout 200)`);
    expect(took).toBeLessThan(3_000);
    expect(err).toMatchObject({ id: 'phobos.transport', code: 503 });
    expect(err.detail).toMatch(/heartbeat missed/);
    expect(socket.closed).toBe(true);
    expect(dead).toEqual([[address, err]]);
    expect(log.warnings().map((l) => l.reason)).toContainEqual(expect.stringMatching(/^heartbeat missed/));

    // Right after, the address is in backoff: a get fails fast so a caller can try another node.
    const fast = await rejection(Promise.resolve().then(() => pool.get(address)));
    expect(fast).toMatchObject({ id: 'phobos.transport', code: 503, retryable: true });
    expect(fast.detail).toMatch(new RegExp(`^reconnecting to ${address.replace(/\./g, '\\.')} in \\d+ ms$`));
    expect(pool.connections(address)).toHaveLength(0);

    child.proc.kill('SIGCONT');
    // Once the backoff has passed, the next use dials again and the revived server answers.
    const again = await eventually(async () => {
      const s = await pool.get(address);
      return json.decode((await call(s, name, 'echo', { n: 2 }, 2_000)).body) as { n: number };
    }, 10_000);
    expect(again).toEqual({ n: 2 });
    expect(pool.connections(address)).toHaveLength(1);
    expect(pool.connections(address)[0]).not.toBe(socket);
    expect(dead).toHaveLength(1);
  } finally {
    pool.close();
  }
});
