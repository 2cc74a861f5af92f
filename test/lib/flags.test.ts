import { ConfigError, createService, DEFAULTS, resolveConfig } from '../../lib';

describe('flags and environment', () => {
  test('precedence: a typed flag beats env, env beats code, code beats defaults', () => {
    const code = { registry: 'memory', clientRetries: 4, clientRequestTimeout: 2000 };
    expect(resolveConfig(code, [], {})).toMatchObject({ registry: 'memory', clientRetries: 4, clientRequestTimeout: 2000, codec: DEFAULTS.codec });
    const env = { PHOBOS_REGISTRY: 'mdns', PHOBOS_CLIENT_RETRIES: '2' };
    expect(resolveConfig(code, [], env)).toMatchObject({ registry: 'mdns', clientRetries: 2, clientRequestTimeout: 2000 });
    const argv = ['--registry=etcd', '--client_retries', '0', '--client_request_timeout=750ms'];
    expect(resolveConfig(code, argv, env)).toMatchObject({ registry: 'etcd', clientRetries: 0, clientRequestTimeout: 750 });
  });

  test('a flag that was not typed never overrides code options (go-micro bug)', () => {
    expect(resolveConfig({ codec: 'json' }, ['--registry=memory'], {}).codec).toBe('json');
  });

  test('durations take units; bare numbers are seconds for ttl and milliseconds for timeouts', () => {
    const c = resolveConfig({}, ['--register_ttl=2m', '--register_interval=15', '--client_request_timeout=1.5s'], {});
    expect([c.registerTtl, c.registerInterval, c.clientRequestTimeout]).toEqual([120, 15, 1500]);
    expect(resolveConfig({}, ['--client_request_timeout=250'], {}).clientRequestTimeout).toBe(250);
  });

  test('application flags and positionals are left alone', () => {
    expect(() => resolveConfig({}, ['serve', '--port=80', '--verbose', '--registry=memory'], {})).not.toThrow();
  });

  test.each([
    [['--client_request_timeout=soon'], /--client_request_timeout: "soon" is not a duration/],
    [['--client_request_timeout=0s'], /must be more than zero/],
    [['--server_address=127.0.0.1:70000'], /port "70000" .* out of range/],
    [['--server_address=localhost:http'], /port "http" .* out of range/],
    [['--client_retries=-1'], /not a whole number/],
    [['--log_level=loud'], /not a log level/],
    [['--registry'], /--registry needs a value/],
    [['--register_ttl=10s', '--register_interval=20s'], /register_interval .* must be shorter than register_ttl/],
  ])('%j is refused with a one-line message', (argv, message) => {
    let err: unknown;
    try {
      resolveConfig({}, argv, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  test('env values are checked the same way and name the variable', () => {
    expect(() => resolveConfig({}, [], { PHOBOS_CLIENT_POOL_SIZE: 'many' })).toThrow(/PHOBOS_CLIENT_POOL_SIZE: "many" is not a whole number/);
  });

  test('an unknown plugin name lists the names available for that kind', () => {
    const build = (argv: string[]) => () => createService({ name: 'x', argv, env: {}, exitOnConfigError: false });
    expect(build(['--registry=consul'])).toThrow('unknown registry "consul" (available: etcd, mdns, memory, nats, redis)');
    expect(build(['--transport=carrier-pigeon'])).toThrow(/unknown transport "carrier-pigeon" \(available: grpc, memory, nats, tcp\)/);
    expect(build(['--broker=kafka'])).toThrow(/unknown broker "kafka" \(available: memory, mqtt, nats, p2p, rabbitmq, redis\)/);
    expect(build(['--codec=xml'])).toThrow(/unknown codec "xml" \(available: json, msgpack, protobuf\)/);
    expect(build(['--selector=psychic'])).toThrow(/unknown selector "psychic" \(available: hash, latency, leastinflight, random, roundrobin, weighted\)/);
  });
});
