import { JsonCodec, Method, RpcError, Service, type Codec, type MessageRole } from '../../lib';
import { newNamespace, stopAll, testService } from '../helpers/services';

/**
 * A codec whose bytes do not say what they are (protobuf is the real one) must be told which message it handles. This
 * one is JSON underneath and records every hint it is given, so the test sees exactly what the server and client pass.
 */
class RecordingTypedCodec implements Codec {
  readonly name = 'recorded';
  readonly id = 9;
  readonly contentType = 'application/x-recorded';
  readonly typed = true;
  readonly seen: string[] = [];
  private readonly json = new JsonCodec();

  encode(value: unknown, service?: string, endpoint?: string, role?: MessageRole): Uint8Array {
    this.seen.push(`encode ${service}/${endpoint} ${role}`);
    return this.json.encode(value);
  }

  decode(bytes: Uint8Array, service?: string, endpoint?: string, role?: MessageRole): unknown {
    this.seen.push(`decode ${service}/${endpoint} ${role}`);
    return this.json.decode(bytes);
  }
}

@Service({ name: 'typed' })
class Typed {
  @Method() async echo(req: { text: string }) {
    return { text: req.text.toUpperCase() };
  }

  @Method() async refuse(): Promise<never> {
    throw new RpcError('typed.refuse', 409, 'already there');
  }
}

afterEach(stopAll);

describe('a typed codec', () => {
  test('is told service, endpoint and role on both sides of a call, and errors for it travel as JSON', async () => {
    const namespace = newNamespace();
    const serverCodec = new RecordingTypedCodec();
    const clientCodec = new RecordingTypedCodec();
    const server = testService({ name: 'typed', namespace, preferLocal: false }).handle(new Typed());
    server.codecs.add(serverCodec);
    await server.start();
    const caller = testService({ namespace, preferLocal: false });
    caller.codecs.add(clientCodec);
    await caller.start();

    await expect(caller.client.call('typed', 'echo', { text: 'hi' }, { codec: 'recorded' })).resolves.toEqual({ text: 'HI' });
    expect(serverCodec.seen).toEqual(['decode typed/echo request', 'encode typed/echo response']);
    expect(clientCodec.seen).toEqual(['encode typed/echo request', 'decode typed/echo response']);

    serverCodec.seen.length = 0;
    clientCodec.seen.length = 0;
    const err = await caller.client.call('typed', 'refuse', {}, { codec: 'recorded' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: 409, detail: 'already there' });
    // The error body had no message type to be encoded with: the server sent it as JSON, the client read it as JSON.
    expect(serverCodec.seen).toEqual(['decode typed/refuse request']);
    expect(clientCodec.seen).toEqual(['encode typed/refuse request']);
  });
});
