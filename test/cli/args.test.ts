import { PassThrough } from 'node:stream';
import { CliError, parseArgs, wholeNumber } from '../../lib/cli/args';
import { main, usage } from '../../lib/cli/main';

const BENCH = {
  concurrency: { type: 'string' as const, short: 'c', help: '' },
  duration: { type: 'string' as const, short: 'd', help: '' },
  json: { type: 'boolean' as const, help: '' },
};

describe('parseArgs', () => {
  test('positionals, short and long options, = forms, and shared flags normalized for createService', () => {
    const p = parseArgs(['greeter', '-c', '64', 'hello', '--duration=2s', '--registry', 'etcd', '{"a":1}', '--json', '--codec=json'], BENCH);
    expect(p.positionals).toEqual(['greeter', 'hello', '{"a":1}']);
    expect(p.options).toEqual({ concurrency: '64', duration: '2s', json: true });
    expect(p.flagArgv).toEqual(['--registry=etcd', '--codec=json']);
    expect(p.help).toBe(false);
  });

  test('--timeout is --client_request_timeout unless the command has its own', () => {
    expect(parseArgs(['--timeout', '2s']).flagArgv).toEqual(['--client_request_timeout=2s']);
    const own = parseArgs(['--timeout', '2s'], { timeout: { type: 'string', help: '' } });
    expect(own).toMatchObject({ options: { timeout: '2s' }, flagArgv: [] });
  });

  test('a negative number, a lone dash and everything after -- are positionals', () => {
    expect(parseArgs(['-1', '-', '--', '--json', '-c']).positionals).toEqual(['-1', '-', '--json', '-c']);
  });

  test('bad input is an error naming the option', () => {
    expect(() => parseArgs(['--nope'], BENCH)).toThrow(new CliError('unknown option --nope'));
    expect(() => parseArgs(['-x'], BENCH)).toThrow('unknown option -x');
    expect(() => parseArgs(['-c'], BENCH)).toThrow('-c needs a value');
    expect(() => parseArgs(['--registry', '--json'], BENCH)).toThrow('--registry needs a value');
    expect(() => parseArgs(['--json=yes'], BENCH)).toThrow('--json=yes: --json takes no value');
  });

  test('--help and -h', () => {
    expect(parseArgs(['x', '--help']).help).toBe(true);
    expect(parseArgs(['-h']).help).toBe(true);
  });

  test('wholeNumber', () => {
    expect(wholeNumber('concurrency', undefined, 16)).toBe(16);
    expect(wholeNumber('concurrency', '64', 16)).toBe(64);
    expect(() => wholeNumber('concurrency', '0', 16)).toThrow('--concurrency: "0" is not a whole number >= 1');
    expect(() => wholeNumber('count', '2.5', 1)).toThrow('--count: "2.5" is not a whole number >= 1');
  });
});

describe('main: help and dispatch (no service is created for these)', () => {
  async function run(...argv: string[]) {
    const out = new PassThrough();
    const err = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c) => chunks.push(String(c)));
    const code = await main(argv, { out, err });
    return { code, out: chunks.join('') };
  }

  test('no command, help and --help print the usage with every command', async () => {
    for (const argv of [[], ['help'], ['--help']]) {
      const r = await run(...argv);
      expect(r).toEqual({ code: 0, out: `${usage()}\n` });
    }
    for (const c of ['list', 'describe <service>', 'call <service>', 'publish <topic>', 'health <service>', 'bench <service> <endpoint>', 'watch [service]', 'gateway']) {
      expect(usage()).toContain(`  ${c}`);
    }
  });

  test('per command help, from --help or help <command>', async () => {
    const bench = await run('bench', '--help');
    expect(bench.code).toBe(0);
    expect(bench.out).toMatch(/^usage: phobos bench <service> <endpoint> \[json\]/);
    expect(bench.out).toMatch(/-c, --concurrency <n>/);
    expect(bench.out).toMatch(/-n, --count <n>/);
    expect((await run('help', 'health')).out).toMatch(/--timeout <duration>\s+how long each node gets to answer/);
    expect((await run('gateway', '--help')).out).toMatch(/^usage: phobos gateway \[--address 127\.0\.0\.1:8080\] \[--cors\] \[--body_limit <bytes>\]/);
  });

  test('an unknown command or option is an error naming it', async () => {
    await expect(run('frobnicate')).rejects.toThrow('unknown command "frobnicate" (commands: list, describe, call, publish, health, bench, watch, gateway; phobos --help)');
    await expect(run('health', 'x', '--concurrency', '3')).rejects.toThrow('unknown option --concurrency');
  });

  test('the command word may follow shared flags and their values', async () => {
    expect((await run('--registry', 'memory', 'help', 'watch')).out).toMatch(/^usage: phobos watch \[service\]/);
  });

  test('gateway is handed its arguments as typed: its own flag error becomes the exit code, nothing is started', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect((await run('gateway', '--body_limit', 'lots')).code).toBe(1);
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/--body_limit: "lots" is not a size/);
    } finally {
      stderr.mockRestore();
      process.exitCode = undefined;
    }
  });
});
