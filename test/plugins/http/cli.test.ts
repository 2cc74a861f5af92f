import { gatewayCommand, parseBytes, parseGatewayFlags } from '../../../lib/cli/gateway';
import { GatewayFixture } from '../../fixtures/gateway-service';
import { Child, killAll, uniqueName } from '../../helpers/process';
import { stopAll, testService } from '../../helpers/services';
import { call } from './helpers';

/** `phobos gateway`: its flags, the command in this process, and the command as a real child process. */

afterEach(async () => {
  await stopAll();
  await killAll();
});

describe('phobos gateway', () => {
  test('its own flags are taken out, the service flags left for the service', () => {
    const { flags, rest } = parseGatewayFlags(['--address', '127.0.0.1:9000', '--registry=memory', '--cors', '--body_limit=2mb', '--log_level', 'info']);
    expect(flags).toEqual({ address: '127.0.0.1:9000', cors: true, bodyLimit: 2 * 1024 * 1024 });
    expect(rest).toEqual(['--registry=memory', '--log_level', 'info']);
    expect(parseGatewayFlags(['--cors=https://a.example,https://b.example']).flags.cors).toEqual({ origins: ['https://a.example', 'https://b.example'] });
    expect(parseBytes('512kb')).toBe(512 * 1024);
    expect(parseBytes('1048576')).toBe(1048576);
    expect(() => parseBytes('lots')).toThrow(/--body_limit: "lots" is not a size/);
  });

  test('in this process: listens, calls through a client-only service, stops when told', async () => {
    // The command's service uses the memory registry's default namespace: serve the fixture there.
    const server = testService({ name: 'gw', namespace: 'default' });
    server.handle(new GatewayFixture());
    await server.start();
    let stop!: () => void;
    const until = new Promise<void>((resolve) => (stop = resolve));
    const lines: string[] = [];
    let listening!: (address: string) => void;
    const address = new Promise<string>((resolve) => (listening = resolve));
    const done = gatewayCommand(['--address', '127.0.0.1:0', '--registry', 'memory', '--broker', 'memory', '--body_limit', '64', '--cors'], {
      until,
      print: (line) => {
        lines.push(line);
        const m = /^gateway listening on http:\/\/(.+)$/.exec(line);
        if (m) listening(m[1]);
      },
    });
    const at = await address;
    expect(at).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await call(at, { path: '/gw/echo', body: { hi: 1 }, headers: { origin: 'https://x.example' } })).json).toEqual({ hi: 1 });
    expect((await call(at, { path: '/gw/echo', body: { pad: 'x'.repeat(100) } })).status).toBe(413);
    expect((await call(at, { path: '/gw/echo', body: {}, headers: { origin: 'https://x.example' } })).headers['access-control-allow-origin']).toBe('*');
    stop();
    await done;
    await expect(call(at, { method: 'GET', path: '/health' })).rejects.toThrow(/ECONNREFUSED/);
    expect(lines).toEqual([`gateway listening on http://${at}`]);
  });

  test('phobos gateway as a child process on the default registry: calls a service in another process, exits 0 on SIGTERM', async () => {
    const name = uniqueName('gwcli');
    const server = new Child('test/fixtures/service-process.js', [], { FIXTURE_NAME: name });
    await server.waitFor(/^READY/);
    const gateway = new Child('lib/cli/main.js', ['gateway', '--address', '127.0.0.1:0']);
    const [, at] = await gateway.waitFor(/^gateway listening on http:\/\/(.+)$/);
    const echo = await call(at, { path: `/${name}/echo`, body: { x: [1, 'two'] } });
    expect(echo).toMatchObject({ status: 200, json: { x: [1, 'two'] } });
    const meta = await call(at, { path: `/${name}/meta`, body: {}, headers: { 'x-phobos-tenant': 'acme', authorization: 'Bearer t', 'x-request-id': 'cli-1' } });
    expect(meta.json).toEqual({ tenant: 'acme', authorization: 'Bearer t', 'x-request-id': 'cli-1' });
    expect(await call(at, { path: `/${name}/crash`, body: {} })).toMatchObject({ status: 500, json: { detail: 'boom' } });
    expect((await call(at, { path: `/${name}-missing/echo`, body: {} })).status).toBe(404);
    gateway.kill('SIGTERM');
    expect(await gateway.exit(10_000)).toEqual({ code: 0, signal: null });
  });
});
