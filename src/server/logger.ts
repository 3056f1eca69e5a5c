// The logging interface the server core writes to: the project's logger (src/log/logger.ts). The
// core only needs its four reporting methods, so any LogSink will do (the CLI passes the real
// logger; tests pass recorders).

export type { LogFields, LogLevel, LogSink as Logger } from '../log/logger.js';
export { OncePerKeyWarning, silentLogger } from '../log/logger.js';
