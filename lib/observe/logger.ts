import pino from 'pino';

/**
 * pino loggers. Quiet by default (`warn`): a framework should not chatter. The level comes from --log_level /
 * PHOBOS_LOG_LEVEL. Child loggers bind context (service, request id) once, so the hot path never formats.
 */
export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'warn', bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    redact: { paths: ['metadata.authorization', 'metadata.Authorization', 'password', '*.password'], censor: '[redacted]' },
  });
}

/** A logger that drops everything; for components created without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
