// `s3nfs serve`: builds the stack from the configuration (S3 client → export (file system with its
// read and write paths) → NFS, MOUNT and portmap programs on one RPC server), refuses to start when
// the bucket cannot be reached, and shuts down gracefully on SIGTERM/SIGINT or a control `stop`:
// stop taking calls, finish the running ones, publish pending writes, release the state directory.
//
// Around the server: the portmapper (--portmap), the control socket in the state directory (for
// `s3nfs status|flush|stop`), the pid file, the metrics endpoint (--metrics-listen) and progress
// lines for long publishes.
//
// stdout carries one machine-readable line, `s3nfs: listening on HOST:PORT`, for scripts and
// tests; everything else is logged (stderr, or a file with --log-directory).

import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StorageClass } from '@aws-sdk/client-s3';
import type { StorageClass as StorageClassName } from '@aws-sdk/client-s3';
import { MOUNT_PROGRAM, MOUNT_V3 } from '../../protocol/mount.js';
import { NFS_PROGRAM, NFS_V3 } from '../../protocol/nfs3/constants.js';
import { NLM_PROGRAM, NLM_V4 } from '../../protocol/nlm4.js';
import { NSM_PROGRAM, NSM_V1 } from '../../protocol/nsm.js';
import { IPPROTO_UDP, PMAP_PROGRAM, PMAP_V2 } from '../../protocol/portmap.js';
import { CONTROL_SOCKET_NAME, PID_FILE_NAME, normalizeExportPath } from '../control/protocol.js';
import type { FlushReport, PendingFileReport, StatusReport, StopReport } from '../control/protocol.js';
import { startControlServer, type ControlServer } from '../control/server.js';
import { openExport, type OpenExport } from '../fs/export.js';
import type { FileSystem } from '../fs/file-system.js';
import { StateDirInUseError } from '../fs/state-lock.js';
import type { FlushResult } from '../fs/write/write-path.js';
import { oneLine, type LogFields, type Logger, type LogSink } from '../log/logger.js';
import { S3nfsMetrics } from '../metrics/s3nfs-metrics.js';
import { startMetricsServer, type MetricsServer } from '../metrics/metrics-server.js';
import { MountList, exportPath } from '../mount/exports.js';
import { mountProgram } from '../mount/program.js';
import { nfsProgram } from '../nfs/program.js';
import { LockTable } from '../nlm/lock-table.js';
import { nsmProgram } from '../nlm/nsm-program.js';
import { nlmProgram } from '../nlm/program.js';
import { portmapProgram, type OfferedProgram } from '../portmap/program.js';
import type { ObjectStore } from '../s3/object-store.js';
import { SdkObjectStore, type SdkObjectStoreOptions } from '../s3/sdk-store.js';
import { RpcServer } from '../server/index.js';
import type { RpcProgram } from '../server/index.js';
import { serveAdmission } from './admission.js';
import { ClientAllowList, isLoopbackListen } from './client-addresses.js';
import { ClientTracker } from './client-tracker.js';
import { setUpServerLog } from './log-setup.js';
import { instrumentProgram, meteredFileSystem, wireScrapeSources } from './metrics-wiring.js';
import { PortmapSetupError, setUpPortmap, type PortmapSetup } from './portmap-setup.js';
import { PublishProgress } from './publish-progress.js';
import { allowsEveryone, type ServeConfig } from './serve-options.js';

export { serveAdmission } from './admission.js';

/** How long running calls may take to finish at shutdown before connections are cut. */
const SHUTDOWN_CALL_TIMEOUT_MS = 10_000;
/**
 * How long pending writes may take to publish at shutdown; the rest is published by the next start.
 * Long, because large files take a while; a second signal exits at once.
 */
const SHUTDOWN_PUBLISH_TIMEOUT_MS = 10 * 60_000;

/** The s3nfs version (package.json), for status and metrics. */
export function s3nfsVersion(): string {
  try {
    const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
    const v: unknown = (JSON.parse(text) as Record<string, unknown>)['version'];
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The server core used to take a converting adapter; the project logger now takes any field
 * value itself, so this is the logger unchanged. Kept for callers of the old name.
 */
export function serverLogger(log: Logger): LogSink {
  return log;
}

/** A start-up failure, reported as one line. */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}

/** The host part of the mount command: the listen address, or this machine's name for a wildcard. */
function mountHost(listen: string): string {
  if (listen === '0.0.0.0' || listen === '::') return os.hostname();
  return listen.includes(':') ? `[${listen}]` : listen;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The mount(8) command a client of this server would run. */
export function mountCommand(config: Pick<ServeConfig, 'listen' | 'readOnly'>, path: string, port: number, portmapped: boolean): string {
  const ro = config.readOnly ? ' -o ro' : '';
  // With a portmapper, clients find MOUNT and the lock manager themselves: no options needed.
  if (portmapped && port === 2049) return `mount -t nfs${ro} ${mountHost(config.listen)}:${path} DIR`;
  // Without one, the client's lock manager could not find ours: locks stay on the client (nolock).
  const options = `vers=3,proto=tcp,port=${port},mountport=${port},mountproto=tcp,nolock${config.readOnly ? ',ro' : ''}`;
  return `mount -t nfs -o ${options} ${mountHost(config.listen)}:${path} DIR`;
}

function storeOptions(config: ServeConfig): SdkObjectStoreOptions {
  const o: SdkObjectStoreOptions = {
    bucket: config.bucket,
    forcePathStyle: config.forcePathStyle,
    uploadChecksums: config.uploadChecksums,
    noSignRequest: config.noSignRequest,
    requesterPays: config.requesterPays,
  };
  if (config.endpointUrl !== undefined) o.endpoint = config.endpointUrl;
  if (config.region !== undefined) o.region = config.region;
  if (config.profile !== undefined) o.profile = config.profile;
  if (config.expectedBucketOwner !== undefined) o.expectedBucketOwner = config.expectedBucketOwner;
  if (config.sse !== undefined) o.sse = config.sse;
  if (config.sseKmsKeyId !== undefined) o.sseKmsKeyId = config.sseKmsKeyId;
  if (config.storageClass !== undefined) {
    const known: readonly string[] = Object.values(StorageClass);
    if (!known.includes(config.storageClass)) {
      throw new StartError(`--storage-class ${config.storageClass} is not a storage class (${known.join(', ')})`);
    }
    o.storageClass = config.storageClass as StorageClassName;
  }
  return o;
}

export interface StartOptions {
  log: Logger;
  /** Where `s3nfs mount` mounts the export on this machine (shown by `s3nfs status`). */
  mountpoint?: string;
  /** The log file, if any (shown in status). */
  logFile?: string;
}

/** A running server. */
export interface RunningServer {
  readonly config: ServeConfig;
  /** The NFS and MOUNT port. */
  readonly port: number;
  readonly exportPath: string;
  /** Where clients found the ports (portmap), and whether they can. */
  readonly portmap: PortmapSetup;
  readonly controlSocket: string | undefined;
  /** Resolves when a control `stop` asks the server to stop. */
  readonly stopRequested: Promise<string>;
  status(): StatusReport;
  flush(path?: string): Promise<FlushReport>;
  /** The mount command for clients. */
  mountCommand(): string;
  /** Shuts down (idempotent); resolves with the exit code. */
  stop(reason: string): Promise<number>;
}

/**
 * A logger that can be silenced, children included: a failed start reports one line, not the
 * clean-up of what it had opened.
 */
function silenceable(base: Logger, state = { silent: false }): { log: Logger; silence(): void } {
  const gate =
    (level: 'error' | 'warn' | 'info' | 'debug') =>
    (msg: string, fields?: LogFields): void => {
      if (!state.silent) base[level](msg, fields);
    };
  const log: Logger = {
    error: gate('error'),
    warn: gate('warn'),
    info: gate('info'),
    debug: gate('debug'),
    child: (fields) => silenceable(base.child(fields), state).log,
    enabled: (level) => !state.silent && base.enabled(level),
  };
  return { log, silence: () => (state.silent = true) };
}

/** Starts everything; throws StartError (one line for the user) when it cannot. */
export async function startServer(config: ServeConfig, options: StartOptions): Promise<RunningServer> {
  const quiet = silenceable(options.log);
  const { log } = quiet;
  const target = `s3://${config.bucket}/${config.prefix}`;
  const cleanups: (() => Promise<void> | void)[] = [];
  const undo = async (): Promise<void> => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn('clean-up after a failed start failed', { err });
      }
    }
  };

  try {
    const metrics = config.metricsListen ? new S3nfsMetrics({ version: s3nfsVersion() }) : undefined;
    const sdkStore = new SdkObjectStore({ ...storeOptions(config), log });
    cleanups.push(() => sdkStore.destroy());
    const store: ObjectStore = metrics ? metrics.instrument(sdkStore) : sdkStore;
    try {
      await store.checkBucket();
    } catch (err) {
      throw new StartError(`cannot serve ${target}: ${oneLine(err)}`);
    }

    let exported: OpenExport;
    try {
      exported = await openExport({
        store,
        bucket: config.bucket,
        prefix: config.prefix,
        stateDir: config.stateDir,
        ownership: { uid: config.uid, gid: config.gid, fileMode: config.fileMode, dirMode: config.dirMode },
        metadataTtlMs: config.metadataTtlMs,
        negativeTtlMs: config.negativeMetadataTtlMs,
        readOnly: config.readOnly,
        allowDelete: config.allowDelete,
        allowOverwrite: config.allowOverwrite,
        publishDelayMs: config.publishDelayMs,
        writePartSize: config.writePartSize,
        readPartSize: config.readPartSize,
        memoryTargetBytes: config.memoryTargetBytes,
        logger: log,
      });
    } catch (err) {
      if (err instanceof StateDirInUseError) throw new StartError(err.message);
      throw new StartError(`cannot open the state directory ${config.stateDir}: ${oneLine(err)}`);
    }
    cleanups.push(() => exported.shutdown({ timeoutMs: 0 }).then(() => undefined));
    const served = exportPath(config.bucket, config.prefix);
    const fs: FileSystem = metrics ? meteredFileSystem(exported.fs, metrics) : exported.fs;

    const mounts = new MountList();
    const clients = new ClientTracker();
    const allowList =
      config.allowClients.length > 0 && !allowsEveryone(config.allowClients)
        ? new ClientAllowList(config.allowClients)
        : undefined;
    const refused = metrics?.rpcRejected;
    const admission = serveAdmission(config.insecure, log, {
      ...(allowList ? { allowList } : {}),
      ...(refused ? { onRefused: (reason) => refused.labels({ reason }).inc() } : {}),
      onAdmitted: (call) => clients.record(call),
    });
    const server = new RpcServer({ logger: log, ...(admission ? { admission } : {}) });
    let port = 0;
    // The portmapper's own entries: port 111 over TCP and UDP once it answers there (with the
    // status monitor's SM_NOTIFY beside it, so restarted clients' locks are released).
    let portmapEntries: OfferedProgram[] = [{ program: PMAP_PROGRAM, version: PMAP_V2 }];
    const portmapper = portmapProgram({
      programs: () => [
        { program: NFS_PROGRAM, version: NFS_V3 },
        { program: MOUNT_PROGRAM, version: MOUNT_V3 },
        { program: NLM_PROGRAM, version: NLM_V4 },
        ...portmapEntries,
      ],
      port: () => port,
      logger: log,
    });
    const locks = new LockTable();
    const statusMonitor = nsmProgram({ table: locks, logger: log });
    const instrumented = (p: RpcProgram): RpcProgram => (metrics ? instrumentProgram(p, metrics) : p);
    const programs: RpcProgram[] = [
      nfsProgram({ fs, logger: log }),
      mountProgram({ exports: [{ path: served, fs }], logger: log, mounts }),
      nlmProgram({ fs, logger: log, table: locks }),
      statusMonitor,
      portmapper,
    ];
    for (const p of programs) server.register(instrumented(p));

    try {
      port = (await server.listen({ host: config.listen, port: config.port })).port;
    } catch (err) {
      throw new StartError(`cannot listen on ${hostPort(config.listen, config.port)}: ${oneLine(err)}`);
    }
    cleanups.push(() => server.close({ timeoutMs: 0 }));
    if (!isLoopbackListen(config.listen)) {
      log.info('serving beyond loopback', {
        allowClients: config.allowClients.map((r) => r.text).join(','),
        everyone: allowList === undefined,
      });
    }

    let portmap: PortmapSetup;
    try {
      portmap = await setUpPortmap({
        mode: config.portmap,
        listen: config.listen,
        port,
        listenAlso: (host, p) => server.listen({ host, port: p }),
        portmapProgram: instrumented(portmapper),
        udpPrograms: [instrumented(statusMonitor)],
        ...(allowList ? { allows: (a: string) => allowList.allows(a) } : {}),
        log,
      });
    } catch (err) {
      if (err instanceof PortmapSetupError) throw new StartError(err.message);
      throw err;
    }
    cleanups.push(() => portmap.stop());
    if (portmap.servedPorts) {
      const served111 = portmap.servedPorts;
      portmapEntries = [
        ...served111.map((s) => ({ program: PMAP_PROGRAM, version: PMAP_V2, ...s })),
        { program: NSM_PROGRAM, version: NSM_V1 },
        ...served111.filter((s) => s.prot === IPPROTO_UDP).map((s) => ({ program: NSM_PROGRAM, version: NSM_V1, ...s })),
      ];
    }

    let metricsServer: MetricsServer | undefined;
    if (metrics && config.metricsListen) {
      wireScrapeSources(metrics, { exported, connections: () => server.stats().connectionsOpen });
      try {
        metricsServer = await startMetricsServer({ registry: metrics.registry, ...config.metricsListen, logger: log });
      } catch (err) {
        throw new StartError(`cannot serve metrics on ${hostPort(config.metricsListen.host, config.metricsListen.port)}: ${oneLine(err)}`);
      }
      const ms = metricsServer;
      cleanups.push(() => ms.close());
      log.info('serving metrics', { url: `http://${hostPort(ms.address.host, ms.address.port)}/metrics` });
    }

    const relative = (key: string): string => (key.startsWith(config.prefix) ? key.slice(config.prefix.length) : key);
    const progress = exported.writePath ? new PublishProgress(exported.writePath, log, relative) : undefined;
    cleanups.push(() => progress?.stop());

    const startedAt = new Date();
    let requestStop: (reason: string) => void = () => {};
    const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));

    const status = (): StatusReport => {
      const s = exported.status();
      const pending: PendingFileReport[] = (s.write?.files ?? [])
        .filter((f) => f.phase !== 'published')
        .map((f) => {
          const r: PendingFileReport = {
            path: relative(f.key),
            phase: f.phase,
            size: f.size,
            uploadedBytes: f.uploadedBytes,
            attempts: f.attempts,
          };
          if (f.lastError !== undefined) r.lastError = f.lastError;
          if (f.nextAttemptAt !== undefined) r.nextAttemptAt = f.nextAttemptAt.toISOString();
          return r;
        });
      const mounted = mounts.list();
      const report: StatusReport = {
        pid: process.pid,
        version: s3nfsVersion(),
        startedAt: startedAt.toISOString(),
        stateDir: config.stateDir,
        listen: server.addresses().map((a) => ({ host: a.address, port: a.port })),
        portmap: portmap.description,
        exports: [
          {
            path: served,
            bucket: config.bucket,
            prefix: config.prefix,
            readOnly: config.readOnly,
            ...(options.mountpoint === undefined ? {} : { mountpoint: options.mountpoint }),
          },
        ],
        connections: server.stats().connectionsOpen,
        clients: clients.list().map((c) => ({
          address: c.address,
          mounts: mounted.filter((m) => m.hostname === c.address).map((m) => m.directory),
          calls: c.calls,
          lastCallAt: c.lastCallAt.toISOString(),
        })),
        uploads: {
          staged: s.write?.totals.writing ?? 0,
          publishing: s.write?.totals.publishing ?? 0,
          failed: s.write?.totals.failed ?? 0,
          pendingBytes: s.write?.totals.unpublishedBytes ?? 0,
        },
        pending,
        memory: { reservedBytes: s.memory.reserved, limitBytes: s.memory.limit },
      };
      if (metricsServer) report.metrics = metricsServer.address;
      return report;
    };

    const flush = async (p?: string): Promise<FlushReport> => {
      const writePath = exported.writePath;
      if (!writePath) return { files: [], published: 0, failed: 0 };
      const rel = normalizeExportPath(p ?? '');
      let results: FlushResult[];
      if (rel === '') {
        results = await exported.flush();
      } else {
        const key = `${config.prefix}${rel}`;
        const keys = writePath
          .status()
          .files.filter((f) => f.key === key || f.key.startsWith(`${key}/`))
          .map((f) => f.key);
        results = (await Promise.all(keys.map((k) => writePath.flush(k)))).flat();
      }
      const files = results.map((r) => ({
        path: relative(r.key),
        outcome: r.outcome,
        ...(r.error === undefined ? {} : { error: r.error }),
      }));
      log.info('flush requested', { path: rel === '' ? '/' : rel, files: files.length });
      return {
        files,
        published: files.filter((f) => f.outcome === 'published').length,
        failed: files.filter((f) => f.outcome === 'failed').length,
      };
    };

    let control: ControlServer | undefined;
    const socketPath = path.join(config.stateDir, CONTROL_SOCKET_NAME);
    try {
      control = await startControlServer(
        socketPath,
        {
          status,
          flush,
          stop: (): StopReport => {
            requestStop('control');
            return { stopping: true, pid: process.pid };
          },
        },
        log,
      );
    } catch (err) {
      // Status and flush are conveniences: serve without them rather than not at all.
      log.warn('no control socket: s3nfs status and flush will not reach this server', { err: oneLine(err) });
    }
    const controlServer = control;
    if (controlServer) cleanups.push(() => controlServer.close());

    const pidFile = path.join(config.stateDir, PID_FILE_NAME);
    await writeFile(pidFile, `${process.pid}\n`, { mode: 0o644 });
    cleanups.push(() => rm(pidFile, { force: true }));

    log.info('serving', {
      export: served,
      bucket: config.bucket,
      prefix: config.prefix,
      readOnly: config.readOnly,
      privilegedPortsOnly: !config.insecure,
      portmap: portmap.description,
      stateDir: config.stateDir,
      mount: mountCommand(config, served, port, portmap.available),
    });

    let stopping: Promise<number> | undefined;
    const stop = async (reason: string): Promise<number> => {
      log.info('shutting down', { reason });
      let code = 0;
      // Clients that ask the portmapper from now on should not find a server that is going away.
      await portmap.stop().catch((err: unknown) => log.warn('portmap clean-up failed', { err }));
      await server.close({ timeoutMs: SHUTDOWN_CALL_TIMEOUT_MS });
      try {
        const report = await exported.shutdown({ timeoutMs: SHUTDOWN_PUBLISH_TIMEOUT_MS });
        if (report.remaining.length > 0) code = 1;
      } catch (err) {
        log.error('publishing pending writes at shutdown failed', { err });
        code = 1;
      }
      progress?.stop();
      await metricsServer?.close().catch(() => {});
      await controlServer?.close();
      sdkStore.destroy();
      await rm(pidFile, { force: true });
      log.info('stopped', { published: code === 0 });
      return code;
    };

    return {
      config,
      port,
      exportPath: served,
      portmap,
      controlSocket: controlServer?.path,
      stopRequested,
      status,
      flush,
      mountCommand: () => mountCommand(config, served, port, portmap.available),
      stop: (reason) => (stopping ??= stop(reason)),
    };
  } catch (err) {
    quiet.silence();
    await undo();
    throw err;
  }
}

/** Resolves with the first SIGTERM or SIGINT; a second one exits at once. */
export function firstSignal(log: LogSink): Promise<NodeJS.Signals> {
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

export interface RunServeOptions {
  mountpoint?: string;
}

export async function runServe(config: ServeConfig, options: RunServeOptions = {}): Promise<number> {
  const logging = setUpServerLog(config);
  if (!logging) return 1;
  const { log } = logging;
  const signal = firstSignal(log);
  let running: RunningServer;
  try {
    running = await startServer(config, {
      log,
      ...(options.mountpoint === undefined ? {} : { mountpoint: options.mountpoint }),
      ...(logging.file === undefined ? {} : { logFile: logging.file }),
    });
  } catch (err) {
    const message = err instanceof StartError ? err.message : `cannot start: ${oneLine(err)}`;
    if (!(err instanceof StartError)) log.error('start failed', { err });
    process.stderr.write(`s3nfs: ${message}\n`);
    logging.close();
    return 1;
  }
  process.stdout.write(`s3nfs: listening on ${hostPort(config.listen, running.port)}\n`);
  const reason = await Promise.race([signal, running.stopRequested]);
  const code = await running.stop(reason);
  logging.close();
  return code;
}
