import { Child, killAll, uniqueName } from '../helpers/process';

afterEach(killAll);

/** The `phobos` CLI against a service in another process, on the default registry. */
describe('phobos CLI', () => {
  test('list, describe, call and publish', async () => {
    const name = uniqueName('cli');
    const topic = uniqueName('cli-topic');
    const server = new Child('test/fixtures/service-process.js', [], { FIXTURE_NAME: name, FIXTURE_TOPIC: topic });
    await server.waitFor(/^READY/);
    const cli = async (...args: string[]) => {
      const c = new Child('lib/cli/main.js', args);
      const { code } = await c.exit(15_000);
      return { code, out: c.lines.join('\n'), err: c.errLines.join('\n') };
    };

    const list = await cli('list');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`^${name}\\tversions: 1\\.0\\.0\\tnodes: 1$`, 'm'));

    const described = await cli('describe', name);
    expect(described.code).toBe(0);
    const [record] = JSON.parse(described.out);
    expect(record.endpoints.map((e: { name: string }) => e.name).sort()).toEqual(['crash', 'echo', 'meta', 'slow', 'whoami']);

    const call = await cli('call', name, 'echo', '{"x":[1,"two"]}');
    expect(call).toMatchObject({ code: 0 });
    expect(JSON.parse(call.out)).toEqual({ x: [1, 'two'] });

    const failed = await cli('call', name, 'crash');
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.err)).toMatchObject({ code: 500, detail: 'boom' });

    const badJson = await cli('call', name, 'echo', '{oops');
    expect(badJson.code).toBe(1);
    expect(badJson.err).toMatch(/^phobos: the request is not valid JSON/);

    const published = await cli('publish', topic, '{"hello":1}');
    expect(published).toMatchObject({ code: 0, out: `published to ${topic}` });
    await server.waitFor(/^EVENT \{"event":\{"hello":1\}/);
  });
});
