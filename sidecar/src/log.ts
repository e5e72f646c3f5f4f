// pino JSON logs. Nothing secret or personal goes in: tokens and passwords are never passed to
// the logger, and these paths are redacted in case a header or option object slips through.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const REDACT = [
  'authorization', 'token', 'password', 'credential', 'secret', 'privateJwk',
  '*.authorization', '*.token', '*.password', '*.credential', '*.secret', '*.privateJwk',
  'headers.authorization', 'headers.cookie', 'req.headers.authorization', 'req.headers.cookie',
];

export function createLogger(opts: { level: string; namespace?: string; pod?: string; destination?: pino.DestinationStream }): Logger {
  const base = { component: 'guarita-proxy', namespace: opts.namespace, pod: opts.pod };
  const options: pino.LoggerOptions = { level: opts.level, base, redact: { paths: REDACT, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime };
  return opts.destination === undefined ? pino(options) : pino(options, opts.destination);
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** An error's message without its stack, for logs and client answers. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
