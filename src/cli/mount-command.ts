// `s3nfs mount BUCKET[/PREFIX] DIR` and `s3nfs unmount DIR`: a server for one mount point, started
// in the background (a detached child with its pid file, log file and control socket in the state
// directory) or kept attached with -f, and this machine's kernel NFS client mounting it with the
// options that need no portmapper. `serve --daemon` starts the same background server without
// mounting.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { controlRequest } from '../control/client.js';
import type { StatusReport } from '../control/protocol.js';
import { socketAnswers } from '../control/server.js';
import { oneLine } from '../log/logger.js';
import { stopServer, type CommandOutput } from './control-commands.js';
import { setUpServerLog } from './log-setup.js';
import { isMountPoint, mountOptionsFor, nfsClientProblem, nfsMountAt, runCommand } from './nfs-client.js';
import { isLoopbackListen } from './client-addresses.js';
import { setReadAhead } from './read-ahead.js';
import { runServe, startServer, StartError, type RunningServer } from './serve.js';
import type { ServeConfig } from './serve-options.js';
import { controlSocketOf } from './server-discovery.js';

/** The environment variable that carries the configuration to a background server. */
export const DAEMON_CONFIG_ENV = 'S3NFS_DAEMON_CONFIG';
/** The log file of a background server, in its state directory. */
export const DAEMON_LOG_NAME = 's3nfs.log';
/** The hidden command a background server runs as. */
export const DAEMON_COMMAND = '__daemon';

interface DaemonSpec {
  config: ServeConfig;
  mountpoint?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads the background server's configuration from the environment (written by startDaemon). */
export function daemonSpecFromEnv(env: NodeJS.ProcessEnv = process.env): DaemonSpec {
  const text = env[DAEMON_CONFIG_ENV];
  if (text === undefined) throw new StartError(`${DAEMON_COMMAND} is started by s3nfs mount and serve --daemon only`);
  const v: unknown = JSON.parse(text);
  if (!isRecord(v) || !isRecord(v['config'])) throw new StartError(`${DAEMON_CONFIG_ENV} is not a daemon configuration`);
  // Written by this same program a moment ago from a validated ServeConfig.
  const spec = v as unknown as DaemonSpec;
  return spec;
}

/** The host the kernel should mount from: loopback unless the server listens on one address only. */
function mountHost(listen: string): string {
  if (listen === '0.0.0.0' || listen === '::' || isLoopbackListen(listen)) return '127.0.0.1';
  return listen.includes(':') ? `[${listen}]` : listen;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export interface DaemonStart {
  pid: number;
  status: StatusReport;
  logFile: string;
}

/**
 * Starts a detached background server and waits until its control socket answers. Throws
 * StartError with the server's own last words when it exits first.
 */
export async function startDaemon(config: ServeConfig, mountpoint: string | undefined, timeoutMs = 120_000): Promise<DaemonStart> {
  const socket = controlSocketOf(config.stateDir);
  if (await socketAnswers(socket)) {
    throw new StartError(`a server already runs with state directory ${config.stateDir} (s3nfs status shows it)`);
  }
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const logFile = path.join(config.stateDir, DAEMON_LOG_NAME);
  const fd = openSync(logFile, 'a', 0o640);
  const spec: DaemonSpec = { config, ...(mountpoint === undefined ? {} : { mountpoint }) };
  const script = process.argv[1];
  if (script === undefined) throw new StartError('cannot tell which program to start in the background');
  let exited: number | null | undefined;
  let child;
  try {
    child = spawn(process.execPath, [...process.execArgv, script, DAEMON_COMMAND], {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: '/',
      env: { ...process.env, [DAEMON_CONFIG_ENV]: JSON.stringify(spec) },
    });
  } finally {
    closeSync(fd);
  }
  child.once('exit', (code) => (exited = code));
  const pid = child.pid;
  if (pid === undefined) throw new StartError('the background server did not start');
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (exited !== undefined) {
        // Its own last words: the one-line reason it printed, else an error line, else whatever came last.
        const lines = tail(logFile, 20).split('\n').filter((l) => l.trim() !== '');
        const reason =
          lines.filter((l) => l.startsWith('s3nfs:')).at(-1) ??
          lines.filter((l) => /level=(error|warn)|Error:/.test(l)).at(-1) ??
          lines.at(-1);
        const last = reason?.replace(/^s3nfs: /, '').trim() ?? `it exited with status ${exited}`;
        throw new StartError(`the server did not start: ${last} (log: ${logFile})`);
      }
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGTERM');
        throw new StartError(`the server did not answer within ${timeoutMs / 1000} s (log: ${logFile})`);
      }
      try {
        const status = await controlRequest(socket, { op: 'status' }, { timeoutMs: 2000 });
        if (status.pid === pid) return { pid, status, logFile };
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.unref();
  }
}

/** Checks that `dir` is a directory nothing is mounted on; returns its absolute path. */
function mountDirectory(dir: string): string {
  const abs = path.resolve(dir);
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    throw new StartError(`${abs} does not exist (create the directory to mount on first)`);
  }
  if (!isDir) throw new StartError(`${abs} is not a directory`);
  if (isMountPoint(abs)) throw new StartError(`something is already mounted on ${abs}`);
  return abs;
}

async function mountNfs(config: ServeConfig, exportPath: string, port: number, dir: string): Promise<void> {
  const source = `${mountHost(config.listen)}:${exportPath}`;
  const r = await runCommand('mount', ['-t', 'nfs', '-o', mountOptionsFor(port, config.readOnly), source, dir]);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).at(-1) ?? `exit status ${r.code}`;
    throw new StartError(`mount -t nfs ${source} ${dir} failed: ${why}`);
  }
}

/** The checks every `s3nfs mount` does before starting anything. */
function mountPreflight(dir: string): string {
  if (process.getuid?.() !== 0) {
    throw new StartError('mounting NFS needs root (run s3nfs mount as root, or s3nfs serve and mount it yourself)');
  }
  const problem = nfsClientProblem();
  if (problem) throw new StartError(problem);
  return mountDirectory(dir);
}

/** What `s3nfs mount` sets on the mount besides the server's settings. */
export interface MountSettings {
  /** The mount's kernel read-ahead in KiB; 0 leaves the kernel's default. */
  readAheadKb: number;
}

/** Applies `settings` to the mount at `dir`; returns warnings (the mount works either way). */
function tuneMount(dir: string, settings: MountSettings): string {
  if (settings.readAheadKb === 0) return '';
  const problem = setReadAhead(dir, settings.readAheadKb);
  return problem === undefined ? '' : `s3nfs: warning: ${problem}\n`;
}

/** `s3nfs mount` in the background: start the server, mount, return. */
export async function mountInBackground(config: ServeConfig, dir: string, settings: MountSettings): Promise<CommandOutput> {
  let abs: string;
  try {
    abs = mountPreflight(dir);
  } catch (err) {
    return failure(err);
  }
  let daemon: DaemonStart;
  try {
    daemon = await startDaemon(config, abs);
  } catch (err) {
    return failure(err);
  }
  const exportPath = daemon.status.exports[0]?.path ?? '/';
  const port = daemon.status.listen[0]?.port ?? config.port;
  try {
    await mountNfs(config, exportPath, port, abs);
  } catch (err) {
    await stopServer(config.stateDir, 60_000);
    return failure(err);
  }
  return {
    stdout: `s3nfs: mounted s3://${config.bucket}/${config.prefix} on ${abs} (server pid ${daemon.pid}, log ${logPlace(config, daemon)})\n`,
    stderr: tuneMount(abs, settings),
    code: 0,
  };
}

/** `s3nfs serve --daemon`: the background server without a mount. */
export async function serveInBackground(config: ServeConfig): Promise<CommandOutput> {
  try {
    const d = await startDaemon(config, undefined);
    const a = d.status.listen[0];
    return {
      stdout: `s3nfs: serving s3://${config.bucket}/${config.prefix} on ${a ? `${a.host}:${a.port}` : '?'} in the background (pid ${d.pid}, log ${logPlace(config, d)})\n`,
      stderr: '',
      code: 0,
    };
  } catch (err) {
    return failure(err);
  }
}

/** Where a background server logs: its --log-directory, else s3nfs.log in the state directory. */
function logPlace(config: ServeConfig, daemon: DaemonStart): string {
  return config.logDirectory === undefined ? daemon.logFile : `in ${config.logDirectory}`;
}

function failure(err: unknown): CommandOutput {
  const message = err instanceof StartError ? err.message : oneLine(err);
  return { stdout: '', stderr: `s3nfs: ${message}\n`, code: 1 };
}

/** Signals and control `stop` requests, one at a time (foreground mode may refuse to stop). */
function stopEvents(running: RunningServer): () => Promise<string> {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  const push = (reason: string): void => {
    queue.push(reason);
    wake?.();
  };
  process.on('SIGTERM', () => push('SIGTERM'));
  process.on('SIGINT', () => push('SIGINT'));
  void running.stopRequested.then(push);
  return async () => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    return queue.shift()!;
  };
}

/** `s3nfs mount -f`: serve in this process, mount, and unmount before stopping. */
export async function mountInForeground(config: ServeConfig, dir: string, settings: MountSettings): Promise<number> {
  let abs: string;
  try {
    abs = mountPreflight(dir);
  } catch (err) {
    process.stderr.write(failure(err).stderr);
    return 1;
  }
  const logging = setUpServerLog(config);
  if (!logging) return 1;
  const { log } = logging;
  let running: RunningServer;
  try {
    running = await startServer(config, { log, mountpoint: abs });
  } catch (err) {
    process.stderr.write(failure(err).stderr);
    logging.close();
    return 1;
  }
  try {
    await mountNfs(config, running.exportPath, running.port, abs);
  } catch (err) {
    process.stderr.write(failure(err).stderr);
    await running.stop('mount failed');
    logging.close();
    return 1;
  }
  process.stderr.write(tuneMount(abs, settings));
  log.info('mounted', { dir: abs, export: running.exportPath });
  const next = stopEvents(running);
  for (;;) {
    const reason = await next();
    if (!nfsMountAt(abs)) break;
    const r = await runCommand('umount', [abs]);
    if (r.code === 0) break;
    log.error('cannot unmount; still serving (close what uses it, then stop again)', {
      dir: abs,
      reason,
      umount: r.stderr.trim(),
    });
  }
  const code = await running.stop('unmounted');
  logging.close();
  return code;
}

/** `s3nfs unmount DIR`: unmount, publish pending writes, stop the server. */
export async function unmountCommand(dir: string, stateDir: string, timeoutMs: number): Promise<CommandOutput> {
  const abs = path.resolve(dir);
  let out = '';
  if (nfsMountAt(abs)) {
    const r = await runCommand('umount', [abs]);
    if (r.code !== 0) {
      const why = r.stderr.trim().split('\n').at(-1) ?? `exit status ${r.code}`;
      return { stdout: '', stderr: `s3nfs: cannot unmount ${abs}: ${why}\n`, code: 1 };
    }
    out += `s3nfs: unmounted ${abs}\n`;
  }
  const socket = controlSocketOf(stateDir);
  if (!(await socketAnswers(socket))) {
    if (out !== '') return { stdout: out, stderr: '', code: 0 };
    return { stdout: '', stderr: `s3nfs: ${abs} is not mounted and no server runs for it (state directory ${stateDir})\n`, code: 3 };
  }
  // Publish first, so what did not make it is reported here, then stop.
  try {
    const report = await controlRequest(socket, { op: 'flush' }, { timeoutMs: 0 });
    if (report.files.length > 0) out += `s3nfs: published ${report.published} file${report.published === 1 ? '' : 's'}\n`;
    if (report.failed > 0) {
      const failed = report.files.filter((f) => f.outcome === 'failed');
      const list = failed.map((f) => `  ${f.path}: ${f.error ?? 'failed'}`).join('\n');
      return {
        stdout: out,
        stderr: `s3nfs: ${report.failed} file(s) could not be published; the server keeps running and retrying:\n${list}\n`,
        code: 1,
      };
    }
  } catch (err) {
    return { stdout: out, stderr: `s3nfs: publishing pending writes failed: ${oneLine(err)}\n`, code: 1 };
  }
  const stopped = await stopServer(stateDir, timeoutMs);
  return { stdout: out + stopped.stdout, stderr: stopped.stderr, code: stopped.code };
}

/** The background server's body: serve until stopped. */
export async function runDaemon(): Promise<number> {
  let spec: DaemonSpec;
  try {
    spec = daemonSpecFromEnv();
  } catch (err) {
    process.stderr.write(failure(err).stderr);
    return 2;
  }
  return runServe(spec.config, spec.mountpoint === undefined ? {} : { mountpoint: spec.mountpoint });
}

