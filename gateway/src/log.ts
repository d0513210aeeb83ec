import { pino } from 'pino'

export type Logger = pino.Logger

/**
 * One logger for the gateway. Credentials are redacted by path so that no
 * header, body or MQTT password reaches a log line even by accident.
 */
export function createLogger(level: string): Logger {
  return pino({
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
  })
}
