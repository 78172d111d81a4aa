/** Structured JSON logs, one object per line, with an operation id where there is one. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(minimum: LogLevel = 'info', write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Logger {
  return {
    log(level, message, fields) {
      if (ORDER[level] < ORDER[minimum]) return;
      // The broker's shape (Powertools Logger: level in capitals, message, timestamp, service), so
      // that the local platform's stderr, where both write, has one shape.
      write(JSON.stringify({ level: level.toUpperCase(), message, timestamp: new Date().toISOString(), service: 'control-plane', ...fields }));
    },
  };
}

export const silentLogger: Logger = { log() {} };
