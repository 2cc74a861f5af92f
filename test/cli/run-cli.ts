import { Child } from '../helpers/process';

/** Runs `phobos` (dist/lib/cli/main.js) as a real process for the multi-process CLI tests. */

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
}

export async function cli(args: string[], deadlineMs = 20_000): Promise<CliRun> {
  const started = Date.now();
  const c = new Child('lib/cli/main.js', args);
  const { code } = await c.exit(deadlineMs);
  return { code, out: c.lines.join('\n'), err: c.errLines.join('\n'), ms: Date.now() - started };
}

/** Starts the CLI fixture service and waits until it is registered: its address and node id. */
export async function fixture(name: string, flags: string[] = []): Promise<{ child: Child; address: string; node: string }> {
  const child = new Child('test/fixtures/cli-service.js', flags, { FIXTURE_NAME: name });
  const [, address, node] = await child.waitFor(/^READY (\S+) (\S+)$/, 15_000);
  return { child, address, node };
}
