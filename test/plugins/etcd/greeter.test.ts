import { Etcd3 } from 'etcd3';
import { describeEngine, EngineInstance } from '../../helpers/engines';
import { Child, eventually, killAll } from '../../helpers/process';

/**
 * The greeter demo (server and client processes) with `--registry=etcd`, on a private etcd so no greeter left in
 * the shared one by another run can answer instead.
 */
describeEngine('etcd', 'greeter example on the etcd registry', () => {
  let etcd: EngineInstance;

  beforeAll(async () => {
    etcd = await EngineInstance.start('etcd');
  }, 30_000);

  afterAll(async () => {
    await killAll();
    await etcd?.destroy();
  });

  test('npm start demo with --registry=etcd: the client finds the server through etcd', async () => {
    // Watch the greeter's keys while the demo runs: the server's node must be put, then deleted on SIGTERM.
    const raw = new Etcd3({ hosts: etcd.address });
    const seen: string[] = [];
    const watch = await raw.watch().prefix('/phobos/registry/greeter/').create();
    watch.on('put', (kv) => seen.push(`put ${kv.key.toString()}`));
    watch.on('delete', (kv) => seen.push(`delete ${kv.key.toString()}`));
    try {
      const demo = new Child('examples/greeter/demo.js', ['--registry=etcd', `--registry_address=${etcd.address}`]);
      const { code } = await demo.exit(20_000);
      const out = demo.lines.join('\n');
      expect(code).toBe(0);
      expect(out).toMatch(/\[client\] reply: Hello, World! \(from pid \d+\)/);
      expect(out).toContain('[client] 2 + 3 = 5');
      const node = /\(node (greeter-\w+)\)/.exec(out)?.[1];
      expect(node).toBeDefined();
      const key = `/phobos/registry/greeter/${node}`;
      await eventually(() => seen.includes(`delete ${key}`), 3000);
      expect(seen[0]).toBe(`put ${key}`);
      expect(await raw.getAll().prefix('/phobos/registry/greeter/').keys()).toEqual([]);
    } finally {
      await watch.cancel();
      raw.close();
    }
  }, 30_000);
});
