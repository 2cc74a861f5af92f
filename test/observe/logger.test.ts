import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../lib/observe/logger';
import { resolveConfig } from '../../lib/flags';
import { Child, killAll } from '../helpers/process';

/**
 * Redaction, checked on the bytes pino really writes: a destination stream in this process, and the stdout of a real
 * service process for the flags (--log_format=pretty included). The secret values must never appear.
 */

afterEach(killAll);

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const SECRET = 'S3cr3t-Value-9f1c';

test('secrets under sensitive keys never reach the output, at any depth, in any case', () => {
  const out = capture();
  const logger: Logger = createLogger('info', { service: 'svc' }, { destination: out.stream, sensitive: ['ssn', 'X-Session'], redact: ['user.address'] });
  const logged = {
    metadata: { Authorization: `Bearer ${SECRET}-1`, 'x-request-id': 'req-1' },
    headers: { authorization: `Basic ${SECRET}-2`, cookie: `sid=${SECRET}-3`, 'Set-Cookie': [`a=${SECRET}-4`], 'x-session': `${SECRET}-5` },
    deep: { list: [{ password: `${SECRET}-6` }, { nested: { client_secret: `${SECRET}-7`, API_KEY: `${SECRET}-8` } }] },
    token: `${SECRET}-9`,
    accessToken: `${SECRET}-10`,
    user: { name: 'ann', ssn: `${SECRET}-11`, address: `${SECRET}-12` },
  };
  const copy = JSON.parse(JSON.stringify(logged));
  logger.info(logged, 'request in');
  logger.child({ metadata: { authorization: `Bearer ${SECRET}-13` } }).warn('from a child');
  const err = Object.assign(new Error('upstream failed'), { config: { headers: { Authorization: `Bearer ${SECRET}-14` } } });
  logger.error({ err }, 'call failed');

  const text = out.text();
  expect(text).not.toContain(SECRET);
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toHaveLength(3);
  // What is not secret survives, and secrets are replaced, not dropped.
  expect(lines[0].metadata).toEqual({ Authorization: '[redacted]', 'x-request-id': 'req-1' });
  expect(lines[0].headers['Set-Cookie']).toBe('[redacted]');
  expect(lines[0].deep.list[1].nested).toEqual({ client_secret: '[redacted]', API_KEY: '[redacted]' });
  expect(lines[0].user).toEqual({ name: 'ann', ssn: '[redacted]', address: '[redacted]' });
  expect(lines[0].accessToken).toBe('[redacted]');
  expect(lines[1].metadata.authorization).toBe('[redacted]');
  expect(lines[2].err.message).toBe('upstream failed');
  expect(lines[2].err.config.headers.Authorization).toBe('[redacted]');
  // The caller's object is left as it was.
  expect(logged).toEqual(copy);
});

test('keys that merely contain a sensitive word are kept', () => {
  const out = capture();
  createLogger('info', {}, { destination: out.stream }).info({ tokenCount: 3, passwordPolicy: 'long', author: 'bob' });
  expect(JSON.parse(out.text())).toMatchObject({ tokenCount: 3, passwordPolicy: 'long', author: 'bob' });
});

test('--log_format and PHOBOS_LOG_FORMAT pick the format; anything else is a clear error', () => {
  expect(resolveConfig({}, [], {}).logFormat).toBe('json');
  expect(resolveConfig({}, ['--log_format=pretty'], {}).logFormat).toBe('pretty');
  expect(resolveConfig({}, [], { PHOBOS_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
  expect(resolveConfig({ logFormat: 'pretty' }, ['--log_format=json'], {}).logFormat).toBe('json');
  expect(() => resolveConfig({}, ['--log_format=xml'], {})).toThrow('--log_format: "xml" is not a log format (json, pretty)');
});

test('pretty mode writes human lines, still redacted', () => {
  const out = capture();
  createLogger('info', { service: 'svc' }, { format: 'pretty', destination: out.stream }).info({ metadata: { authorization: `Bearer ${SECRET}` }, user: 'ann' }, 'hello there');
  const text = out.text();
  expect(text).not.toContain(SECRET);
  expect(text).toMatch(/INFO.*hello there/);
  expect(text).toContain('[redacted]');
  expect(() => JSON.parse(text)).toThrow();
});

for (const format of ['json', 'pretty']) {
  test(`a real service process (--log_format=${format}): metadata secrets from a call and ServiceOptions sensitive/redact never reach stdout`, async () => {
    const child = new Child('test/fixtures/logging-service.js', ['--log_level=info', `--log_format=${format}`], { FIXTURE_SECRET: SECRET });
    await child.waitFor(/^DONE$/, 15_000);
    expect((await child.exit()).code).toBe(0);
    const stdout = child.lines.join('\n');
    expect(stdout).toContain('handling hello');
    expect(stdout).toContain('visitor');
    expect(stdout).toContain('req-7');
    expect(stdout).not.toContain(SECRET);
    if (format === 'json') {
      const lines = child.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const hello = lines.find((l) => l.msg === 'handling hello');
      expect(hello.metadata.Authorization).toBe('[redacted]');
      const visitor = lines.find((l) => l.msg === 'visitor');
      expect(visitor.headers).toEqual({ cookie: '[redacted]', 'X-Api-Key': '[redacted]' });
      expect(visitor.user).toEqual({ name: 'ann', ssn: '[redacted]', address: '[redacted]' });
    } else {
      expect(child.lines.some((l) => l.startsWith('{'))).toBe(false);
      expect(stdout).toMatch(/INFO.*visitor/);
    }
  });
}
