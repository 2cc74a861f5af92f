import { FLAGS } from '../flags';

/**
 * Splits a command line into positionals, the command's own options and the service flags every command shares
 * (--registry, --transport, ... from lib/flags.ts). Service flags are handed to createService as they were typed;
 * command options are checked here, so a typo is an error naming the option instead of being silently ignored.
 */

export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export interface OptionSpec {
  /** A boolean option takes no value; a string option takes the next argument or `=value`. */
  type: 'boolean' | 'string';
  /** One-letter alias, used as `-c 64`. */
  short?: string;
  help: string;
  /** Shown in the help text: `--concurrency <n>`. */
  value?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface ParsedArgs {
  positionals: string[];
  /** The command's options as typed: `true` for booleans, the text for string options. */
  options: Record<string, string | true>;
  /** The service flags, normalized to `--flag=value`, ready for createService({ argv }). */
  flagArgv: string[];
  help: boolean;
}

/** `--timeout` is a shorthand every command understands for --client_request_timeout (unless it has its own). */
const FLAG_ALIASES: Record<string, string> = { timeout: 'client_request_timeout' };

export function parseArgs(argv: readonly string[], specs: OptionSpecs = {}): ParsedArgs {
  const parsed: ParsedArgs = { positionals: [], options: {}, flagArgv: [], help: false };
  const byShort = new Map(Object.entries(specs).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      parsed.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      parsed.help = true;
      continue;
    }
    // A lone '-' or a negative number ('-1' as a JSON request) is a positional, not an option.
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      parsed.positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    const key = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    const name = long ? key : byShort.get(key);
    const takeValue = (what: string): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new CliError(`${what} needs a value`);
      i++;
      return next;
    };
    const spec = name !== undefined ? specs[name] : undefined;
    if (name !== undefined && spec) {
      if (spec.type === 'boolean') {
        if (inline !== undefined) throw new CliError(`${arg}: --${name} takes no value`);
        parsed.options[name] = true;
      } else parsed.options[name] = takeValue(arg);
      continue;
    }
    const flag = long ? (FLAG_ALIASES[key] ?? key) : undefined;
    if (flag !== undefined && FLAGS[flag]) {
      parsed.flagArgv.push(`--${flag}=${takeValue(arg)}`);
      continue;
    }
    throw new CliError(`unknown option ${long ? `--${key}` : `-${key}`}`);
  }
  return parsed;
}

/** A whole number >= min for an option (`-c 64`). */
export function wholeNumber(option: string, value: string | true | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (value === true || !/^\d+$/.test(value) || Number(value) < min) {
    throw new CliError(`--${option}: "${value}" is not a whole number >= ${min}`);
  }
  return Number(value);
}

/** Help lines for a command's options, aligned. */
export function optionsHelp(specs: OptionSpecs): string[] {
  return Object.entries(specs).map(([name, s]) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.value ? ` <${s.value}>` : ''}`;
    return `  ${left.padEnd(30)} ${s.help}`;
  });
}
