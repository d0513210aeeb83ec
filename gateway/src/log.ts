import { pino } from 'pino'
import pretty from 'pino-pretty'

export type Logger = pino.Logger

/**
 * One logger for the gateway. Credentials are redacted by path so that no
 * header, body or MQTT password reaches a log line even by accident. JSON
 * lines on stdout by default (journald keeps them, log shippers read them);
 * `pretty` writes the same records as readable lines for a terminal, through
 * pino-pretty in this process (synchronously: nothing lost at exit).
 */
export function createLogger(level: string, format: 'json' | 'pretty' = 'json'): Logger {
  const opts: pino.LoggerOptions = {
    level,
    base: { svc: 'doorstep' },
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'password',
        'secret',
        'token',
        '*.password',
        '*.secret',
        '*.token',
      ],
      censor: '[redacted]',
    },
  }
  if (format === 'json') return pino(opts)
  return pino(
    opts,
    pretty({
      colorize: process.stdout.isTTY === true,
      sync: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,svc',
    }),
  )
}
