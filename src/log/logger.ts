// Structured logging: one line per event, logfmt (default) or JSON, with a level threshold.
// Injected everywhere it is needed; there is no global logger.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'logfmt' | 'json';
export type LogFields = Record<string, string | number | bigint | boolean | undefined>;

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. a component name). */
  child(fields: LogFields): Logger;
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
  now?: () => Date;
}

function logfmtValue(v: string): string {
  return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
}

export function createLogger(opts: LoggerOptions = {}, base: LogFields = {}): Logger {
  const threshold = RANK[opts.level ?? 'info'];
  const format = opts.format ?? 'logfmt';
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? (() => new Date());

  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] > threshold) return;
    const all: LogFields = { ...base, ...fields };
    if (format === 'json') {
      const obj: Record<string, unknown> = { time: now().toISOString(), level, msg };
      for (const [k, v] of Object.entries(all)) {
        if (v !== undefined) obj[k] = typeof v === 'bigint' ? v.toString() : v;
      }
      write(JSON.stringify(obj));
      return;
    }
    let line = `time=${now().toISOString()} level=${level} msg=${logfmtValue(msg)}`;
    for (const [k, v] of Object.entries(all)) {
      if (v !== undefined) line += ` ${k}=${logfmtValue(String(v))}`;
    }
    write(line);
  };

  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
    child: (fields) => createLogger(opts, { ...base, ...fields }),
    enabled: (level) => RANK[level] <= threshold,
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} });
