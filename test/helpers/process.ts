import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

/** Real child processes for multi-process tests: start compiled scripts from dist/, wait on their output, clean up. */

export const DIST = join(__dirname, '..', '..', 'dist');

export class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  readonly errLines: string[] = [];
  private readonly waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, [join(DIST, script), ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const feed = (into: string[]) => {
      let partial = '';
      return (chunk: Buffer) => {
        const parts = (partial + chunk.toString()).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) {
          into.push(line);
          for (const w of [...this.waiters]) {
            const m = line.match(w.re);
            if (m) {
              this.waiters.splice(this.waiters.indexOf(w), 1);
              w.resolve(m);
            }
          }
        }
      };
    };
    this.proc.stdout.on('data', feed(this.lines));
    this.proc.stderr.on('data', feed(this.errLines));
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  /** Resolves with the first stdout/stderr line (already seen or future) matching `re`; rejects after `ms`. */
  waitFor(re: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
    for (const line of [...this.lines, ...this.errLines]) {
      const m = line.match(re);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no line matching ${re} within ${ms} ms; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.errLines.join('\n')}`));
      }, ms);
      this.waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`process exited before printing ${re}; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.errLines.join('\n')}`));
      });
    });
  }

  /** Waits for exit, failing after `ms`. */
  async exit(ms = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`process did not exit within ${ms} ms`)), ms)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }
}

const live = new Set<Child>();

/** Kills every child still running (call in afterAll/afterEach so a failed test leaves nothing behind). */
export async function killAll(): Promise<void> {
  const children = [...live];
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
}

/** Polls `check` until it returns a truthy value or `ms` passes. */
export async function eventually<T>(check: () => T | Promise<T>, ms = 5000, every = 20): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

let seq = 0;
/** A service name no other test (or concurrently running test file) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${++seq}`;
}
