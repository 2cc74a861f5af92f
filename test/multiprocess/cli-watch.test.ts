import { Child, killAll, uniqueName } from '../helpers/process';
import { fixture } from '../cli/run-cli';

afterEach(killAll);

/** `phobos watch` seeing real service processes come and go. */

function watcher(args: string[]): Child {
  return new Child('lib/cli/main.js', ['watch', ...args]);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('phobos watch', () => {
  test('a service starting is a create line, stopping a delete line; --json the same as JSON; SIGINT ends it with 0', async () => {
    const name = uniqueName('cli-watch');
    const text = watcher([name]);
    const json = watcher([name, '--json']);
    await Promise.all([text.waitFor(/^phobos: watching /, 15_000), json.waitFor(/^phobos: watching /, 15_000)]);

    const service = await fixture(name);
    const node = `${escape(service.node)} ${escape(service.address)}`;
    await text.waitFor(new RegExp(`^create ${escape(name)} 1\\.0\\.0 node ${node}$`));
    const created = JSON.parse((await json.waitFor(/^\{"action":"create".*$/))[0]);
    expect(created).toEqual({ action: 'create', service: name, version: '1.0.0', node: service.node, address: service.address, at: expect.any(String) });
    expect(Date.parse(created.at)).toBeGreaterThan(Date.now() - 60_000);

    service.child.kill('SIGTERM');
    expect((await service.child.exit(10_000)).code).toBe(0);
    await text.waitFor(new RegExp(`^delete ${escape(name)} 1\\.0\\.0 node ${node}$`));
    const deleted = JSON.parse((await json.waitFor(/^\{"action":"delete".*$/))[0]);
    expect(deleted).toMatchObject({ action: 'delete', service: name, node: service.node });

    // Only the service asked for, and each change once.
    expect(text.lines).toEqual([expect.stringMatching(/^create /), expect.stringMatching(/^delete /)]);
    text.kill('SIGINT');
    json.kill('SIGINT');
    expect(await text.exit(10_000)).toEqual({ code: 0, signal: null });
    expect(await json.exit(10_000)).toEqual({ code: 0, signal: null });
  });

  test('--initial lists the nodes already there as exists lines, and they are not reported again as created', async () => {
    const name = uniqueName('cli-watch-initial');
    const first = await fixture(name);
    const w = watcher([name, '--initial']);
    await w.waitFor(new RegExp(`^exists ${escape(name)} 1\\.0\\.0 node ${escape(first.node)} ${escape(first.address)}$`), 15_000);
    await w.waitFor(/^phobos: watching /);
    const second = await fixture(name);
    await w.waitFor(new RegExp(`^create ${escape(name)} 1\\.0\\.0 node ${escape(second.node)} `));
    expect(w.lines.filter((l) => l.includes(first.node))).toHaveLength(1);
    w.kill('SIGINT');
    expect((await w.exit(10_000)).code).toBe(0);
  });
});
