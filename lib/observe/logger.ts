import pino from 'pino';
import { CENSOR, keyCensor, type Censor } from './redact';

/**
 * pino loggers. Quiet by default (`warn`): a framework should not chatter. The level comes from --log_level /
 * PHOBOS_LOG_LEVEL, the format from --log_format / PHOBOS_LOG_FORMAT: `json` (one line per event, the default) or
 * `pretty` (pino-pretty, for development; required only when asked for). Child loggers bind context (service,
 * request id) once, so the hot path never formats.
 *
 * Secrets never reach the output: values under sensitive keys (Authorization, cookies, passwords, tokens, secrets,
 * API keys, plus the application's own `sensitive` keys) are censored at any depth, in the logged object, in child
 * bindings and in serialized errors; `redact` adds pino paths for values whose key alone does not say it.
 * Message strings are not searched: put data in the object, not in the message.
 */
export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  /** `json` (default) or `pretty`. */
  format?: LogFormat;
  /** Extra key names to censor wherever they appear (`ssn`, `x-session`); compared case-insensitively. */
  sensitive?: readonly string[];
  /** Extra pino redact paths (`user.address.street`, `cards[*].number`). */
  redact?: readonly string[];
  /** Where lines go (default stdout). */
  destination?: pino.DestinationStream;
}

export function createLogger(level: LogLevel = 'warn', bindings: Record<string, unknown> = {}, options: LoggerOptions = {}): Logger {
  const censor = keyCensor(options.sensitive);
  const errSerializer = pino.stdSerializers.err;
  const settings: pino.LoggerOptions = {
    level,
    base: { pid: process.pid, ...bindings },
    formatters: { log: censor, bindings: censor },
    // Errors are serialized after `formatters.log` ran, so their properties (a request config with headers...) get
    // the same treatment here.
    serializers: { err: (err) => censor({ ...errSerializer(err) }) },
  };
  if (options.redact?.length) settings.redact = { paths: [...options.redact], censor: CENSOR };
  if (level === 'silent') return pino(settings);
  const destination = options.format === 'pretty' ? prettyStream(options.destination) : options.destination;
  return censorChildBindings(destination ? pino(settings, destination) : pino(settings), censor);
}

/**
 * pino runs `formatters.bindings` for the root logger's base only; a child's bindings are serialized as given. Every
 * child (and grandchild: they inherit `child` from the root) is made through this wrapper, so its bindings are
 * censored like a logged object.
 */
function censorChildBindings(root: Logger, censor: Censor): Logger {
  const child = root.child;
  root.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, censor(bindings), childOptions);
  } as Logger['child'];
  return root;
}

/** pino-pretty in this thread, writing synchronously so nothing is lost when a development process exits. */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pretty.build({
    destination: destination ?? 1,
    sync: true,
    colorize: destination === undefined && process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
}

/** A logger that drops everything; for components created without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
