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
      write(JSON.stringify({ time: new Date().toISOString(), level, service: 'control-plane', message, ...fields }));
    },
  };
}

export const silentLogger: Logger = { log() {} };
