// Structured logging: one line per event, logfmt (default) or JSON, with a level threshold.
// Injected everywhere it is needed; there is no global logger. Fields may hold any value: errors
// become one line (name, message, cause; the stack on error-level lines, which are bugs to fix),
// bigints and other non-JSON scalars become strings, objects and arrays their JSON text.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'logfmt' | 'json';
/** Structured context for a message (addresses, keys, error objects…). Never credentials. */
export type LogFields = Readonly<Record<string, unknown>>;

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** The four methods a component needs to report; test doubles implement just these. */
export interface LogSink {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
}

export interface Logger extends LogSink {
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

/** Error text on one line (SDK messages sometimes span several). */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim();
}

/** Stack frames of an error on one line, innermost first. */
function frames(err: Error): string {
  const lines = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  return lines
    .slice(0, 8)
    .map((l) => l.trim().slice(3))
    .join(' < ');
}

/** `Name: message (cause: …)`, with the stack in brackets when asked. */
export function describeErrorValue(err: Error, withStack: boolean): string {
  const cause = err.cause instanceof Error ? ` (cause: ${oneLine(err.cause)})` : '';
  const stack = withStack ? ` [${frames(err)}]` : '';
  return `${err.name}: ${oneLine(err)}${cause}${stack}`;
}

/** A field as it is written: a JSON scalar, or undefined to leave it out. */
function scalar(v: unknown, withStack: boolean): string | number | boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return describeErrorValue(v, withStack);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  if (typeof v === 'function' || typeof v === 'symbol') return String(v);
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  } catch {
    return String(v);
  }
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
    const withStack = level === 'error';
    const all: Record<string, unknown> = { ...base, ...fields };
    if (format === 'json') {
      const obj: Record<string, unknown> = { time: now().toISOString(), level, msg };
      for (const [k, v] of Object.entries(all)) {
        const s = scalar(v, withStack);
        if (s !== undefined) obj[k] = s;
      }
      write(JSON.stringify(obj));
      return;
    }
    let line = `time=${now().toISOString()} level=${level} msg=${logfmtValue(msg)}`;
    for (const [k, v] of Object.entries(all)) {
      const s = scalar(v, withStack);
      if (s !== undefined) line += ` ${k}=${logfmtValue(String(s))}`;
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

/** A logger that drops everything (the default when none is given; tests). */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} });

/**
 * Logs a warning at most once per key (e.g. a client address) per interval, and at debug level
 * otherwise, so a misbehaving client cannot flood the log.
 */
export class OncePerKeyWarning {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly logger: LogSink,
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 1024,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when the warning was logged at warn level (first time for the key in the interval). */
  warn(key: string, message: string, fields?: LogFields): boolean {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && t - seen < this.intervalMs) {
      this.logger.debug(message, fields);
      return false;
    }
    this.last.delete(key);
    if (this.last.size >= this.maxKeys) {
      // Forget the oldest key (Map iterates in insertion order).
      const oldest = this.last.keys().next();
      if (!oldest.done) this.last.delete(oldest.value);
    }
    this.last.set(key, t);
    this.logger.warn(message, fields);
    return true;
  }
}
