import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The real engines the plugin tests talk to. test/global-setup.js starts any engine that is installed but not
 * listening (scripts/engines.sh --no-install) and records which ones answer in PHOBOS_ENGINES_UP. A test of an engine
 * that is down skips and says why, except under PHOBOS_REQUIRE_ENGINES=1 (CI), where it fails.
 *
 * EngineInstance starts a second, private instance of an engine on a port of its own, for fault tests that stop and
 * restart the engine without disturbing the shared one.
 */

export type EngineName = 'nats' | 'redis' | 'rabbitmq' | 'mqtt' | 'etcd';

export const ENGINE_PORTS: Record<EngineName, number> = { nats: 4222, redis: 6379, rabbitmq: 5672, mqtt: 1883, etcd: 2379 };

/** Where each shared engine listens, in the form its plugin's `--*_address` flag takes. */
export const ENGINE_ADDRESSES: Record<EngineName, string> = {
  nats: '127.0.0.1:4222',
  redis: '127.0.0.1:6379',
  rabbitmq: 'amqp://guest:guest@127.0.0.1:5672',
  mqtt: 'mqtt://127.0.0.1:1883',
  etcd: '127.0.0.1:2379',
};

export const enginesRequired = process.env.PHOBOS_REQUIRE_ENGINES === '1';

export function engineUp(name: EngineName): boolean {
  const up = process.env.PHOBOS_ENGINES_UP;
  return up !== undefined && up.split(',').includes(name);
}

/**
 * `describe` for tests that need `engine`. When it is down: under PHOBOS_REQUIRE_ENGINES=1 one failing test says so;
 * otherwise one skipped test whose title says why (and a line on stderr), so a laptop without the engine still passes.
 */
export function describeEngine(engine: EngineName, title: string, body: () => void): void {
  if (engineUp(engine)) {
    describe(title, body);
    return;
  }
  const why = `${engine} is not reachable on 127.0.0.1:${ENGINE_PORTS[engine]} (start it, or install it and rerun: scripts/engines.sh)`;
  describe(title, () => {
    if (enginesRequired) {
      test(`needs ${engine}`, () => {
        throw new Error(`PHOBOS_REQUIRE_ENGINES=1 but ${why}`);
      });
    } else {
      process.stderr.write(`skipping "${title}": ${why}\n`);
      test.skip(`skipped: ${why}`, () => undefined);
    }
  });
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

/** A TCP port nobody listens on right now (bound to 0 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** True when `port` can be bound on every interface right now (stricter than nobody answering on loopback). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

async function waitPort(port: number, open: boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await portOpen(port, '127.0.0.1', 200)) !== open) {
    if (Date.now() > deadline) throw new Error(`${what}: port ${port} still ${open ? 'closed' : 'open'} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface InstanceSpec {
  /** Command line for an instance on `port` keeping its data under `dir` (a fresh folder per instance). */
  /** `spare` is a port free at this start, for a port clients never use (it may change from one start to the next). */
  command(port: number, dir: string, spare: number): { cmd: string; args: string[]; env?: NodeJS.ProcessEnv };
  /** The address to give the plugin for an instance on `port`. */
  address(port: number): string;
  startMs: number;
  /** The command leaves the engine as a child of its own (a start script): signal the process group, not just it. */
  group?: boolean;
}

const SPECS: Record<EngineName, InstanceSpec> = {
  nats: {
    command: (port, dir) => ({ cmd: 'nats-server', args: ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir] }),
    address: (port) => `127.0.0.1:${port}`,
    startMs: 10_000,
  },
  redis: {
    command: (port, dir) => ({
      cmd: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    }),
    address: (port) => `127.0.0.1:${port}`,
    startMs: 10_000,
  },
  mqtt: {
    command: (port) => ({ cmd: 'mosquitto', args: ['-p', String(port)] }),
    address: (port) => `mqtt://127.0.0.1:${port}`,
    startMs: 10_000,
  },
  etcd: {
    // The peer port is the client port + 1: callers pick a client port whose successor is free too (see start()).
    command: (port, dir) => ({
      cmd: 'etcd',
      args: [
        '--name', `phobos-${port}`, '--data-dir', dir,
        '--listen-client-urls', `http://127.0.0.1:${port}`, '--advertise-client-urls', `http://127.0.0.1:${port}`,
        '--listen-peer-urls', `http://127.0.0.1:${port + 1}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${port + 1}`,
        '--initial-cluster', `phobos-${port}=http://127.0.0.1:${port + 1}`,
      ],
    }),
    address: (port) => `127.0.0.1:${port}`,
    startMs: 20_000,
  },
  rabbitmq: {
    // A second RabbitMQ node of its own: own node name, ports, config, data, logs and Erlang cookie (HOME), no plugins.
    // The shared node's /etc/rabbitmq files would pin it to 5672, so it reads files of its own instead. Debian's
    // /usr/sbin/rabbitmq-server is a wrapper that re-runs the script through su; the script behind it is run as is.
    // That script keeps the Erlang VM as a child, hence `group`: stop() signals the whole process group.
    command: (port, dir, spare) => {
      writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${port}\n`);
      writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
      writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
      const script = '/usr/lib/rabbitmq/bin/rabbitmq-server';
      return {
        cmd: existsSync(script) ? script : 'rabbitmq-server',
        args: [],
        env: {
          HOME: dir,
          RABBITMQ_NODENAME: `phobos${port}@localhost`,
          RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
          RABBITMQ_NODE_PORT: String(port),
          // Picked afresh at each start: ephemeral client ports come from the same range and may take a fixed one.
          RABBITMQ_DIST_PORT: String(spare),
          RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
          RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
          RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
          RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
          RABBITMQ_LOG_BASE: join(dir, 'log'),
          RABBITMQ_LOGS: '-',
          RABBITMQ_PID_FILE: join(dir, 'pid'),
          RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
        },
      };
    },
    address: (port) => `amqp://guest:guest@127.0.0.1:${port}`,
    startMs: 60_000,
    group: true,
  },
};

/**
 * A private engine instance on its own port, started and stopped by a test: `stop()` takes it down (as a crash would
 * with SIGKILL), `start()` brings it back on the same port, so clients that reconnect find it where it was.
 */
export class EngineInstance {
  private proc: ChildProcess | undefined;
  private readonly dir: string;
  readonly output: string[] = [];

  private constructor(
    readonly engine: EngineName,
    readonly port: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `phobos-${engine}-`));
  }

  /** Starts an instance on a free port whose successor is free too (etcd listens for peers there). */
  static async start(engine: EngineName): Promise<EngineInstance> {
    let port = await freePort();
    while (!(await bindable(port + 1))) port = await freePort();
    const instance = new EngineInstance(engine, port);
    await instance.start();
    return instance;
  }

  get address(): string {
    return SPECS[this.engine].address(this.port);
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { cmd, args, env } = SPECS[this.engine].command(this.port, this.dir, await freePort());
    const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: SPECS[this.engine].group });
    this.proc = proc;
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 200) this.output.shift();
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const failed = new Promise<never>((_, reject) => {
      proc.once('error', (err) => reject(new Error(`${this.engine}: cannot start ${cmd}: ${err.message}`)));
      proc.once('exit', (code, signal) => reject(new Error(`${this.engine} exited (${code ?? signal}) while starting:\n${this.output.join('')}`)));
    });
    failed.catch(() => undefined);
    await Promise.race([waitPort(this.port, true, SPECS[this.engine].startMs, `${this.engine} start`), failed]);
  }

  /** Stops the instance (SIGKILL by default: a crash) and waits until its port is closed. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    if (SPECS[this.engine].group && proc.pid) process.kill(-proc.pid, signal);
    else proc.kill(signal);
    await exited;
    await waitPort(this.port, false, 10_000, `${this.engine} stop`);
  }

  /** Stops the instance and removes its data. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
