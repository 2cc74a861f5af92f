#!/usr/bin/env node
import 'reflect-metadata';
import { FLAGS } from '../flags';
import { RpcError } from '../errors';
import { createService, type PhobosService } from '../service';
import { CliError, optionsHelp, parseArgs } from './args';
import type { Command, Io } from './command';
import { bench } from './commands/bench';
import { call, describeService, list, publish } from './commands/basic';
import { health } from './commands/health';
import { watch } from './commands/watch';

/**
 * `phobos`: look at and talk to running services with the same flags the services take (--registry, --transport...).
 * This file finds the command and runs it; each command lives in commands/, the argument rules in args.ts.
 */

const COMMANDS: Record<string, Command> = { list, describe: describeService, call, publish, health, bench, watch };

/** The gateway parses its own flags and runs until stopped: it gets the arguments as typed. */
const GATEWAY = {
  synopsis: 'gateway',
  summary: 'serve the HTTP gateway (POST /{service}/{endpoint}, /rpc, /openapi.json)',
  help: [
    'usage: phobos gateway [--address 127.0.0.1:8080] [--cors] [--body_limit <bytes>] [--flags]',
    'Serves every service in the registry over HTTP until ctrl-c; see README.md, "The HTTP gateway".',
  ],
};

/** The shared flags' names that take a value; used to find the command word among them. */
const VALUE_FLAGS = new Set([...Object.keys(FLAGS), 'timeout']);

export function usage(): string {
  const rows = [...Object.values(COMMANDS), GATEWAY].map((c) => `  ${c.synopsis.padEnd(36)} ${c.summary}`);
  const flags = Object.entries(FLAGS).map(([f, s]) => `  --${f.padEnd(34)} ${s.help}`);
  return [
    'usage: phobos <command> [args] [--flags]',
    'commands:',
    ...rows,
    'flags every command takes (env twins PHOBOS_<FLAG>):',
    ...flags,
    `  ${'--timeout <duration>'.padEnd(36)} same as --client_request_timeout`,
    'phobos <command> --help shows the options of a command.',
  ].join('\n');
}

export function commandHelp(c: Command): string {
  const options = optionsHelp(c.options);
  return [
    `usage: phobos ${c.synopsis} [options] [--flags]`,
    c.summary,
    ...(options.length ? ['options:', ...options] : []),
    ...(c.details ?? []),
    `The shared flags (--registry, --transport, --codec, --timeout ...) are listed by phobos --help.`,
  ].join('\n');
}

/** The command word: the first argument that is neither an option nor the value of a shared flag. */
function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a.startsWith('--') && !a.includes('=') && VALUE_FLAGS.has(a.slice(2))) {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return { name: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { name: undefined, rest: [...argv] };
}

export async function main(argv: readonly string[] = process.argv.slice(2), io: Io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const { name, rest } = splitCommand(argv);
  if (name === undefined || name === 'help') {
    const topic = name === 'help' ? splitCommand(rest).name : undefined;
    if (topic && COMMANDS[topic]) io.out.write(`${commandHelp(COMMANDS[topic])}\n`);
    else if (topic === 'gateway') io.out.write(`${GATEWAY.help.join('\n')}\n`);
    else io.out.write(`${usage()}\n`);
    return 0;
  }
  if (name === 'gateway') {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out.write(`${GATEWAY.help.join('\n')}\n`);
      return 0;
    }
    // Loaded only when asked for: the gateway brings an HTTP server the other commands do not need.
    const { gatewayCommand } = require('./gateway') as typeof import('./gateway');
    await gatewayCommand(rest);
    // A bad gateway flag is reported by gatewayCommand itself, through the exit code.
    return Number(process.exitCode ?? 0);
  }
  const command = COMMANDS[name];
  if (!command) throw new CliError(`unknown command "${name}" (commands: ${[...Object.keys(COMMANDS), 'gateway'].join(', ')}; phobos --help)`);

  const parsed = parseArgs(rest, command.options);
  if (parsed.help) {
    io.out.write(`${commandHelp(command)}\n`);
    return 0;
  }
  let service: PhobosService | undefined;
  const interrupt = new AbortController();
  // Long-running commands stop and report on the first ctrl-c; a second one (or one for any other command) ends now.
  const onSigint = () => {
    if (command.longRunning && !interrupt.signal.aborted) interrupt.abort();
    else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  try {
    return await command.run({
      args: parsed.positionals,
      options: parsed.options,
      service: () => (service ??= createService({ name: 'phobos-cli', argv: parsed.flagArgv })),
      io,
      interrupted: interrupt.signal,
    });
  } catch (err) {
    if (!(err instanceof RpcError)) throw err;
    io.err.write(`${JSON.stringify(err.toJSON())}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    await service?.stop();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`phobos: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
