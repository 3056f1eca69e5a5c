// Everything one export needs, built from plain options: the state directory lock, the handle store,
// the memory budget and prefetching read path, the write path (staging, publishing, recovery of what
// an earlier run left) and the S3FileSystem the NFS programs talk to. The server calls openExport
// at start and shutdown() on SIGTERM/SIGINT after it has stopped taking calls.
//
// State directory layout (one lock for all exports of one server):
//   <stateDir>/s3nfs.lock              the server holding the directory (state-lock.ts)
//   <stateDir>/exports/<export id>/    file handles (handle-store.ts)
//   <stateDir>/write/<export id>/      staged writes and the upload journal (write/staging-area.ts)

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { silentLogger, type Logger } from '../log/logger.js';
import type { ObjectStore } from '../s3/object-store.js';
import type { OwnershipOptions } from './attributes.js';
import { exportIdFor } from './file-handle.js';
import { S3FileSystem } from './file-system.js';
import { HandleStore } from './handle-store.js';
import { normalizePrefix } from './names.js';
import { ReadPathManager, type ReadPathOptions, type ReadPathStats } from './read/manager.js';
import { MemoryBudget, type MemoryBudgetStats } from './read/memory-budget.js';
import { lockStateDir, type StateDirLease } from './state-lock.js';
import { systemClock, type Clock } from './write/clock.js';
import { describeError } from './write/describe-error.js';
import type { FlushResult, PublishedEvent, ShutdownReport, WritePathOptions, WriteStatus } from './write/write-path.js';
import { WritePath } from './write/write-path.js';

const MiB = 1024 * 1024;

export interface ExportOptions {
  store: ObjectStore;
  bucket: string;
  /** Key prefix inside the bucket ('' or omitted = the whole bucket). */
  prefix?: string;
  /** --state-dir. Created if missing. */
  stateDir: string;
  ownership?: Partial<OwnershipOptions>;
  /** --metadata-ttl in ms (0 = revalidate every time). */
  metadataTtlMs?: number;
  /** --negative-metadata-ttl in ms; default metadataTtlMs. */
  negativeTtlMs?: number;
  /** --read-only: no write path at all; every change is ROFS. */
  readOnly?: boolean;
  /** --allow-delete: REMOVE deletes objects. */
  allowDelete?: boolean;
  /** --allow-overwrite: truncating or rewriting an existing object stages its replacement. */
  allowOverwrite?: boolean;
  /** --publish-delay in ms. Default 5 s. */
  publishDelayMs?: number;
  /** --write-part-size in bytes. Default 8 MiB. */
  writePartSize?: number;
  /** --read-part-size in bytes (a multiple of 1 MiB). Default 8 MiB. */
  readPartSize?: number;
  /** --memory-target in bytes: the budget of read buffers. Default 512 MiB. */
  memoryTargetBytes?: number;
  logger?: Logger;
  clock?: Clock;
  /** MaxKeys of LIST requests. Default 1000. */
  listPageSize?: number;
  /** Write-path tuning beyond the flags (retention of published copies, retries, concurrency). */
  writeTuning?: Omit<Partial<WritePathOptions>, 'store' | 'stagingDir' | 'exportPrefix' | 'onPublished' | 'log' | 'clock'>;
  /** Read-path tuning beyond the flags (idle times, sweep interval). */
  readTuning?: Omit<Partial<ReadPathOptions>, 'now'>;
}

export interface ExportStatus {
  /** 8 hex digits, as in the state directory. */
  exportId: string;
  bucket: string;
  prefix: string;
  readOnly: boolean;
  /** Staged files and their publish state; absent on a read-only export. */
  write?: WriteStatus;
  read: ReadPathStats;
  memory: MemoryBudgetStats;
}

export interface OpenExport {
  readonly exportId: number;
  readonly fs: S3FileSystem;
  /** Undefined on a read-only export. */
  readonly writePath: WritePath | undefined;
  readonly readPath: ReadPathManager;
  readonly budget: MemoryBudget;
  readonly handles: HandleStore;
  /** Publishes every staged file that is not yet published, now. */
  flush(): Promise<FlushResult[]>;
  status(): ExportStatus;
  /**
   * Call after the server stopped taking calls: makes staged data durable, publishes what is
   * pending (within timeoutMs, default 30 s; the rest is published by the next start), closes the
   * handle store and the read path, and releases the state directory. Idempotent. The store is the
   * caller's and stays open.
   */
  shutdown(options?: { timeoutMs?: number }): Promise<ShutdownReport>;
}

/** Opens one export; fails (holding nothing) if the state directory is in use or unusable. */
export async function openExport(options: ExportOptions): Promise<OpenExport> {
  const prefix = normalizePrefix(options.prefix ?? '');
  const exportId = exportIdFor(options.bucket, prefix);
  const label = exportId.toString(16).padStart(8, '0');
  const log = (options.logger ?? silentLogger).child({ export: label });
  const clock = options.clock ?? systemClock;
  const stagingDir = path.join(options.stateDir, 'write', label);
  const readOnly = options.readOnly ?? false;

  const lease = await lockStateDir(options.stateDir, exportId);
  const undo: Array<() => Promise<void> | void> = [() => lease.release()];
  try {
    const handles = await HandleStore.open({ stateDir: options.stateDir, bucket: options.bucket, prefix });
    undo.push(() => handles.close());
    const budget = new MemoryBudget(options.memoryTargetBytes ?? 512 * MiB);
    // GET bodies the store keeps for reuse count against the same target as the ones in use.
    options.store.holdRecycledIn?.(budget);
    const readPath = new ReadPathManager(options.store, budget, {
      ...options.readTuning,
      prefetch: { partSize: options.readPartSize ?? 16 * MiB, ...options.readTuning?.prefetch },
      now: () => clock.now(),
    });
    undo.push(() => readPath.close());

    // Publishes can only start after a timer fires, and the file system exists by then; the queue
    // is for safety, not for a path that is expected to run.
    let fs: S3FileSystem | undefined;
    const early: PublishedEvent[] = [];
    let writePath: WritePath | undefined;
    if (!readOnly) {
      writePath = await WritePath.open({
        ...options.writeTuning,
        store: options.store,
        stagingDir,
        exportPrefix: prefix,
        ...(options.writePartSize === undefined ? {} : { partSize: options.writePartSize }),
        ...(options.publishDelayMs === undefined ? {} : { publishDelayMs: options.publishDelayMs }),
        allowOverwrite: options.allowOverwrite ?? false,
        log,
        clock,
        onPublished: (event) => (fs ? fs.published(event) : early.push(event)),
      });
      const opened = writePath;
      undo.push(() => opened.shutdown(0).then(() => undefined));
    } else {
      await warnAboutStagedFiles(stagingDir, log);
    }

    fs = new S3FileSystem({
      store: options.store,
      handles,
      prefix,
      ...(options.ownership === undefined ? {} : { ownership: options.ownership }),
      ...(options.metadataTtlMs === undefined ? {} : { metadataTtlMs: options.metadataTtlMs }),
      ...(options.negativeTtlMs === undefined ? {} : { negativeTtlMs: options.negativeTtlMs }),
      ...(options.listPageSize === undefined ? {} : { listPageSize: options.listPageSize }),
      readPath,
      ...(writePath === undefined ? {} : { writePath }),
      readOnly,
      allowDelete: options.allowDelete ?? false,
      log,
      clock: () => clock.now(),
    });
    for (const event of early.splice(0)) fs.published(event);

    if (writePath) {
      const { totals } = writePath.status();
      if (totals.staged > 0) {
        log.info('staged files from the last run', { staged: totals.staged, unpublished: totals.staged - totals.published });
      }
    }
    return exportHandle({ exportId, label, bucket: options.bucket, prefix, readOnly, fs, writePath, readPath, budget, handles, lease, log });
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (cleanup) {
        log.warn('clean-up after a failed open failed', { error: describeError(cleanup) });
      }
    }
    throw err;
  }
}

interface Parts {
  exportId: number;
  label: string;
  bucket: string;
  prefix: string;
  readOnly: boolean;
  fs: S3FileSystem;
  writePath: WritePath | undefined;
  readPath: ReadPathManager;
  budget: MemoryBudget;
  handles: HandleStore;
  lease: StateDirLease;
  log: Logger;
}

function exportHandle(p: Parts): OpenExport {
  let closing: Promise<ShutdownReport> | undefined;

  const shutdown = async (timeoutMs: number): Promise<ShutdownReport> => {
    let report: ShutdownReport = { published: [], remaining: [] };
    try {
      if (p.writePath) {
        report = await p.writePath.shutdown(timeoutMs);
        // The start-up sweep of abandoned uploads may still be talking to S3.
        await Promise.race([p.writePath.orphanCleanup, delay(Math.max(1000, timeoutMs))]);
      }
    } finally {
      p.readPath.close();
      try {
        await p.handles.close();
      } finally {
        await p.lease.release();
      }
    }
    if (report.remaining.length > 0) {
      p.log.warn('files left staged; the next start publishes them', { files: report.remaining.length });
    }
    p.log.info('export closed', { published: report.published.length, remaining: report.remaining.length });
    return report;
  };

  return {
    exportId: p.exportId,
    fs: p.fs,
    writePath: p.writePath,
    readPath: p.readPath,
    budget: p.budget,
    handles: p.handles,
    flush: async () => (p.writePath ? p.writePath.flush() : []),
    status: () => {
      const out: ExportStatus = {
        exportId: p.label,
        bucket: p.bucket,
        prefix: p.prefix,
        readOnly: p.readOnly,
        read: p.readPath.stats(),
        memory: p.budget.stats(),
      };
      if (p.writePath) out.write = p.writePath.status();
      return out;
    },
    shutdown: (options = {}) => (closing ??= shutdown(options.timeoutMs ?? 30_000)),
  };
}

/** A read-only start leaves staged files alone (publishing would change the bucket); say so. */
async function warnAboutStagedFiles(stagingDir: string, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = await readdir(path.join(stagingDir, 'staging'));
  } catch {
    return;
  }
  if (names.length > 0) {
    log.warn('staged files wait for a read-write start to be published; they are not shown read-only', {
      staged: names.length,
      dir: stagingDir,
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
