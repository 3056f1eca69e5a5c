// The logging interface the server core writes to. The CLI supplies the real implementation;
// libraries take one as a parameter instead of reaching for a global.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Structured context for a message (addresses, xids, error objects…). Never credentials. */
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const ignore = (): void => {};

/** A logger that drops everything (the default when none is given). */
export const silentLogger: Logger = Object.freeze({ debug: ignore, info: ignore, warn: ignore, error: ignore });

/**
 * Logs a warning at most once per key (e.g. a client address) per interval, and at debug level
 * otherwise, so a misbehaving client cannot flood the log.
 */
export class OncePerKeyWarning {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 1024,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, message: string, fields?: LogFields): void {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && t - seen < this.intervalMs) {
      this.logger.debug(message, fields);
      return;
    }
    this.last.delete(key);
    if (this.last.size >= this.maxKeys) {
      // Forget the oldest key (Map iterates in insertion order).
      const oldest = this.last.keys().next();
      if (!oldest.done) this.last.delete(oldest.value);
    }
    this.last.set(key, t);
    this.logger.warn(message, fields);
  }
}
