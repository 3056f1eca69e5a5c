// `s3nfs serve`: builds the stack from the configuration (S3 client → file system → NFS, MOUNT and
// portmap programs on one RPC server), refuses to start when the bucket cannot be reached, and
// shuts down gracefully on SIGTERM/SIGINT: stop taking calls, finish the running ones, flush the
// file system, close the handle store.
//
// stdout carries one machine-readable line, `s3nfs: listening on HOST:PORT`, for scripts and
// tests; everything else is logged to stderr.

import os from 'node:os';
import { MOUNT_PROGRAM, MOUNT_V3, MountProc } from '../../protocol/mount.js';
import { NFS_PROGRAM, NFS_V3 } from '../../protocol/nfs3/constants.js';
import { PMAP_PROGRAM, PMAP_V2 } from '../../protocol/portmap.js';
import { S3FileSystem } from '../fs/file-system.js';
import { HandleStore } from '../fs/handle-store.js';
import { ReadPathManager } from '../fs/read/manager.js';
import { MemoryBudget } from '../fs/read/memory-budget.js';
import { createLogger } from '../log/logger.js';
import type { LogFields as LineFields, Logger as LineLogger } from '../log/logger.js';
import { exportPath } from '../mount/exports.js';
import { mountProgram } from '../mount/program.js';
import { nfsProgram } from '../nfs/program.js';
import { portmapProgram } from '../portmap/program.js';
import { SdkObjectStore } from '../s3/sdk-store.js';
import { RpcServer, requirePrivilegedPort } from '../server/index.js';
import type { AdmissionPolicy, LogFields, Logger } from '../server/index.js';
import type { ServeConfig } from './serve-options.js';

/** How long running calls may take to finish at shutdown before connections are cut. */
const SHUTDOWN_CALL_TIMEOUT_MS = 10_000;

/** Error text on one line (SDK messages sometimes span several). */
function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim();
}

/** Stack frames of an error, on one line (for error-level lines: those are bugs to fix). */
function frames(err: Error): string {
  const lines = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  return lines.slice(0, 8).map((l) => l.trim().slice(3)).join(' < ');
}

function fieldValue(v: unknown, withStack: boolean): string | number | bigint | boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return v;
  if (v instanceof Error) {
    const cause = v.cause instanceof Error ? ` (cause: ${oneLine(v.cause)})` : '';
    const stack = withStack ? ` [${frames(v)}]` : '';
    return `${v.name}: ${oneLine(v)}${cause}${stack}`;
  }
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  } catch {
    return String(v);
  }
}

/** The server core logs arbitrary values (errors, objects); the line logger takes scalars. */
export function serverLogger(log: LineLogger): Logger {
  const convert = (fields?: LogFields, withStack = false): LineFields | undefined => {
    if (!fields) return undefined;
    const out: LineFields = {};
    for (const [k, v] of Object.entries(fields)) out[k] = fieldValue(v, withStack);
    return out;
  };
  return {
    debug: (m, f) => {
      if (log.enabled('debug')) log.debug(m, convert(f));
    },
    info: (m, f) => log.info(m, convert(f)),
    warn: (m, f) => log.warn(m, convert(f)),
    error: (m, f) => log.error(m, convert(f, true)),
  };
}

/**
 * Calls must come from a privileged source port unless --insecure, except what reveals nothing
 * and tools send from any port: NULL pings, portmap lookups and the export list (showmount -e).
 */
export function serveAdmission(insecure: boolean, logger: Logger): AdmissionPolicy | undefined {
  if (insecure) return undefined;
  return requirePrivilegedPort({
    logger,
    exempt: (call) =>
      call.procedure === 0 ||
      call.program === PMAP_PROGRAM ||
      (call.program === MOUNT_PROGRAM && call.procedure === MountProc.EXPORT),
  });
}

/** The host part of the mount command: the listen address, or this machine's name for a wildcard. */
function mountHost(listen: string): string {
  if (listen === '0.0.0.0' || listen === '::') return os.hostname();
  return listen.includes(':') ? `[${listen}]` : listen;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Resolves with the first SIGTERM or SIGINT; a second one exits at once. */
function firstSignal(log: LineLogger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (seen) {
        log.warn('second signal: exiting without finishing the shutdown', { signal });
        process.exit(1);
      }
      seen = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * Publishes pending writes before exit, when the file system can (the write path adds this);
 * a read-only file system has nothing to flush.
 */
async function flushFileSystem(fs: S3FileSystem): Promise<void> {
  if ('shutdown' in fs && typeof fs.shutdown === 'function') await (fs.shutdown as () => Promise<unknown>).call(fs);
}

export async function runServe(config: ServeConfig): Promise<number> {
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  const coreLog = serverLogger(log);
  const target = `s3://${config.bucket}/${config.prefix}`;
  const fail = (message: string): number => {
    process.stderr.write(`s3nfs: ${message}\n`);
    return 1;
  };

  const store = new SdkObjectStore({
    bucket: config.bucket,
    ...(config.endpointUrl === undefined ? {} : { endpoint: config.endpointUrl }),
    ...(config.region === undefined ? {} : { region: config.region }),
    forcePathStyle: config.forcePathStyle,
    ...(config.profile === undefined ? {} : { profile: config.profile }),
    uploadChecksums: config.uploadChecksums,
  });
  try {
    await store.checkBucket();
  } catch (err) {
    store.destroy();
    return fail(`cannot serve ${target}: ${oneLine(err)}`);
  }

  let handles: HandleStore;
  try {
    handles = await HandleStore.open({ stateDir: config.stateDir, bucket: config.bucket, prefix: config.prefix });
  } catch (err) {
    store.destroy();
    return fail(`cannot open the state directory ${config.stateDir}: ${oneLine(err)}`);
  }

  const readPath = new ReadPathManager(store, new MemoryBudget(config.memoryTargetBytes), {
    prefetch: { partSize: config.readPartSize },
  });
  const fs = new S3FileSystem({
    store,
    handles,
    prefix: config.prefix,
    ownership: { uid: config.uid, gid: config.gid, fileMode: config.fileMode, dirMode: config.dirMode },
    metadataTtlMs: config.metadataTtlMs,
    negativeTtlMs: config.negativeMetadataTtlMs,
    readPath,
    readOnly: config.readOnly,
  });
  const path = exportPath(config.bucket, config.prefix);

  let port = 0;
  const admission = serveAdmission(config.insecure, coreLog);
  const server = new RpcServer({ logger: coreLog, ...(admission ? { admission } : {}) });
  server.register(nfsProgram({ fs, logger: coreLog }));
  server.register(mountProgram({ exports: [{ path, fs }], logger: coreLog }));
  server.register(
    portmapProgram({
      programs: () => [
        { program: NFS_PROGRAM, version: NFS_V3 },
        { program: MOUNT_PROGRAM, version: MOUNT_V3 },
        { program: PMAP_PROGRAM, version: PMAP_V2 },
      ],
      port: () => port,
      logger: coreLog,
    }),
  );

  const release = async (): Promise<void> => {
    readPath.close();
    await handles.close();
    store.destroy();
  };

  const stopped = firstSignal(log);
  try {
    const address = await server.listen({ host: config.listen, port: config.port });
    port = address.port;
  } catch (err) {
    // Nothing listens and no connection was accepted: only the file system's resources to free.
    await release();
    return fail(`cannot listen on ${hostPort(config.listen, config.port)}: ${oneLine(err)}`);
  }

  process.stdout.write(`s3nfs: listening on ${hostPort(config.listen, port)}\n`);
  log.info('serving', {
    export: path,
    bucket: config.bucket,
    prefix: config.prefix,
    readOnly: config.readOnly,
    privilegedPortsOnly: !config.insecure,
    mount: `mount -t nfs -o vers=3,proto=tcp,port=${port},mountport=${port},mountproto=tcp,nolock ${mountHost(config.listen)}:${path} DIR`,
  });

  const signal = await stopped;
  log.info('shutting down', { signal });
  await server.close({ timeoutMs: SHUTDOWN_CALL_TIMEOUT_MS });
  try {
    await flushFileSystem(fs);
  } catch (err) {
    log.error('flushing the file system failed', { err: oneLine(err) });
    await release();
    return 1;
  }
  await release();
  log.info('stopped');
  return 0;
}
