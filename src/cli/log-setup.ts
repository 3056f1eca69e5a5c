// Where the log goes: stderr, or with --log-directory a new file in that directory (one per start,
// named by time and pid, as Mountpoint does), written synchronously so nothing is lost at a crash.

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createLogger, oneLine, type LogFormat, type Logger, type LogLevel } from '../log/logger.js';

export interface LogSetup {
  readonly log: Logger;
  /** The log file, when logging to one. */
  readonly file?: string;
  close(): void;
}

export interface LogSetupOptions {
  level: LogLevel;
  format: LogFormat;
  /** Write to a new file in this directory instead of stderr. */
  directory?: string;
  now?: () => Date;
}

/** The file name for a log started at `at` by process `pid`. */
export function logFileName(at: Date, pid: number): string {
  return `s3nfs-${at.toISOString().replace(/[:.]/g, '-')}-${pid}.log`;
}

/** Throws (with the reason) when the directory cannot be created or the file opened. */
export function setUpLog(options: LogSetupOptions): LogSetup {
  if (options.directory === undefined) {
    return { log: createLogger({ level: options.level, format: options.format }), close: () => {} };
  }
  mkdirSync(options.directory, { recursive: true, mode: 0o750 });
  const file = path.join(options.directory, logFileName((options.now ?? (() => new Date()))(), process.pid));
  const fd = openSync(file, 'a', 0o640);
  let open = true;
  const write = (line: string): void => {
    if (!open) return;
    try {
      writeSync(fd, `${line}\n`);
    } catch {
      // A full disk must not take the server down; the line is lost.
    }
  };
  return {
    log: createLogger({ level: options.level, format: options.format, write }),
    file,
    close: () => {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/**
 * The log a server command writes, as its flags ask; undefined (after one line on stderr) when the
 * log directory cannot be written.
 */
export function setUpServerLog(config: {
  logLevel: LogSetupOptions['level'];
  logFormat: LogSetupOptions['format'];
  logDirectory?: string;
}): LogSetup | undefined {
  try {
    return setUpLog({
      level: config.logLevel,
      format: config.logFormat,
      ...(config.logDirectory === undefined ? {} : { directory: config.logDirectory }),
    });
  } catch (err) {
    process.stderr.write(`s3nfs: cannot write a log in ${config.logDirectory}: ${oneLine(err)}\n`);
    return undefined;
  }
}
