import type { PhobosService } from '../service';
import type { OptionSpecs } from './args';

/** One `phobos` command: its help, its own options, and what it does. */

export interface Io {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface CommandContext {
  /** Positionals after the command name. */
  args: string[];
  /** The command's own options as typed. */
  options: Record<string, string | true>;
  /** A client service built from the shared flags (created on first use, stopped by main). */
  service(): PhobosService;
  io: Io;
  /** Aborted on SIGINT: long-running commands (watch, bench) stop and report. */
  interrupted: AbortSignal;
}

export interface Command {
  /** `health <service>`: the name and its positionals, as the usage shows them. */
  synopsis: string;
  summary: string;
  /** Extra help lines after the options (examples, exit codes). */
  details?: string[];
  options: OptionSpecs;
  /** Runs until interrupted: the first SIGINT aborts `interrupted` instead of ending the process. */
  longRunning?: boolean;
  /** Resolves with the exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** Writes `value` as indented JSON plus a newline. */
export function printJson(io: Io, value: unknown): void {
  io.out.write(`${JSON.stringify(value, null, 2)}\n`);
}
