import { IsInt, Min } from 'class-validator';
import { Method, RpcError, Service, type Context } from '../../lib';
import type { CallWrapper } from '../../lib/client/types';
import type { HandlerWrapper } from '../../lib/server/endpoint';
import { newNamespace, stopAll, testService } from '../helpers/services';

/** The in-process fast path: a service calling an endpoint it serves itself. */

class Amount {
  @IsInt()
  @Min(1)
  n!: number;
}

@Service({ name: 'local', version: '3.0.0' })
class Local {
  aborted = 0;

  @Method()
  async echo(req: { when: Date; nested: { list: number[] } }): Promise<unknown> {
    return req;
  }

  @Method()
  async double(req: Amount): Promise<number> {
    return req.n * 2;
  }

  @Method()
  async hang(_req: unknown, ctx: Context): Promise<string> {
    return new Promise((resolve) =>
      ctx.signal.addEventListener('abort', () => {
        this.aborted++;
        resolve('too late');
      }),
    );
  }

  @Method()
  async crash(): Promise<never> {
    throw new Error('local crash');
  }

  @Method()
  sync(req: { a: number }): number {
    return req.a + 1;
  }

  @Method()
  async meta(_req: unknown, ctx: Context): Promise<Record<string, string>> {
    return { ...ctx.metadata };
  }
}

@Service({ name: 'local', version: '4.0.0' })
class LocalV4 extends Local {}

afterEach(stopAll);

async function started(options: Parameters<typeof testService>[0] = {}) {
  const handler = new Local();
  const service = testService({ name: 'local', ...options }).handle(handler);
  await service.start();
  return { service, handler };
}

describe('in-process fast path', () => {
  test('skips the codec: the handler gets the caller object itself, and the reply comes back as is', async () => {
    const { service } = await started();
    const request = { when: new Date(0), nested: { list: [1, 2] } };
    const reply = await service.client.call('local', 'echo', request);
    expect(reply).toBe(request);
  });

  test('with preferLocal off the same call goes over the network (a copy comes back)', async () => {
    const { service } = await started({ preferLocal: false });
    const request = { when: new Date(0), nested: { list: [1, 2] } };
    const reply = await service.client.call('local', 'echo', request);
    expect(reply).not.toBe(request);
    expect(reply).toEqual(request);
  });

  test('still validates: a 400 naming the field', async () => {
    const { service } = await started();
    await expect(service.client.call('local', 'double', { n: 4 })).resolves.toBe(8);
    const err = await service.client.call<never>('local', 'double', { n: 0 }).catch((e: RpcError) => e);
    expect(err).toMatchObject({ code: 400 });
    expect(err.issues!.map((i: { path: string }) => i.path)).toEqual(['n']);
  });

  test('honours the deadline: 408 on time and the handler signal aborts', async () => {
    const { service, handler } = await started();
    const t0 = Date.now();
    const err = await service.client.call<never>('local', 'hang', {}, { timeout: 100 }).catch((e: RpcError) => e);
    expect(err).toMatchObject({ code: 408, id: 'local.hang' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(handler.aborted).toBe(1);
  });

  test('a crash is a 500 with the message, a sync handler answers too', async () => {
    const { service } = await started();
    await expect(service.client.call('local', 'crash')).rejects.toMatchObject({ code: 500, detail: 'local crash', id: 'local.crash' });
    await expect(service.client.call('local', 'sync', { a: 1 })).resolves.toBe(2);
  });

  test('server wrappers run, and call wrappers see the local node', async () => {
    const serverSeen: string[] = [];
    const clientSeen: string[] = [];
    const onServer: HandlerWrapper = (next, info) => (req, ctx) => {
      serverSeen.push(info.endpoint);
      return next(req, ctx);
    };
    const onClient: CallWrapper = (next) => (a) => {
      clientSeen.push(`${a.node.id}@${a.node.address}`);
      return next(a);
    };
    const { service } = await started({ wrappers: [onServer], callWrappers: [onClient] });
    await service.client.call('local', 'sync', { a: 1 });
    expect(serverSeen).toEqual(['sync']);
    expect(clientSeen).toEqual([`${service.nodeId}@${service.address}`]);
  });

  test('metadata flows, and the handler cannot change the caller metadata object', async () => {
    const { service } = await started();
    const metadata = { tenant: 'acme' };
    const seen = await service.client.call<Record<string, string>>('local', 'meta', {}, { metadata });
    expect(seen.tenant).toBe('acme');
    expect(metadata).toEqual({ tenant: 'acme' });
  });

  test('a call for another version or a hash key goes to the network', async () => {
    const namespace = newNamespace();
    const { service } = await started({ namespace });
    // Another node of version 4 exists elsewhere.
    await testService({ name: 'local', namespace }).handle(new LocalV4()).start();
    const request = { when: new Date(0), nested: { list: [] } };
    expect(await service.client.call('local', 'echo', request, { version: '3.0.0' })).toBe(request);
    expect(await service.client.call('local', 'echo', request, { version: '4.0.0' })).not.toBe(request);
  });

  test('propagateContext: false still hands the handler its Context, but nested calls inherit nothing', async () => {
    @Service({ name: 'outer' })
    class Outer {
      constructor(private readonly call: () => Promise<Record<string, string>>) {}
      @Method()
      async relay(_req: unknown, ctx: Context): Promise<{ own: string; nested: Record<string, string> }> {
        return { own: ctx.metadata.tenant, nested: await this.call() };
      }
    }
    for (const propagateContext of [true, false]) {
      // A namespace per round, so the caller cannot reach the other round's `outer`.
      const namespace = newNamespace();
      const inner = testService({ name: 'local', namespace });
      await inner.handle(new Local()).start();
      const outer: ReturnType<typeof testService> = testService({ name: 'outer', namespace, propagateContext, preferLocal: false });
      await outer.handle(new Outer(() => outer.client.call('local', 'meta'))).start();
      const reply = await inner.client.call<{ own: string; nested: Record<string, string> }>('outer', 'relay', {}, { metadata: { tenant: 'acme' } });
      expect(reply.own).toBe('acme');
      expect(reply.nested.tenant).toBe(propagateContext ? 'acme' : undefined);
    }
  });

  test('once the service is draining, calls to it leave the process', async () => {
    const namespace = newNamespace();
    const { service } = await started({ namespace, drainTimeout: 3000 });
    await testService({ name: 'local', namespace }).handle(new Local()).start();
    // A call in flight keeps the server draining while we look.
    const holding = service.client.call<never>('local', 'hang', {}, { timeout: 1000 }).catch((e: RpcError) => e);
    const stopping = service.stop();
    await waitFor(() => service.server.draining);
    const request = { when: new Date(0), nested: { list: [] } };
    expect(service.server.localEndpoint('local', 'echo')).toBeUndefined();
    const reply = await service.client.call('local', 'echo', request, { retries: 2 });
    expect(reply).not.toBe(request);
    expect(reply).toEqual(request);
    await expect(holding).resolves.toMatchObject({ code: 408 });
    await stopping;
  });
});

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
