// Connects the server's parts to the Prometheus metrics (src/metrics): every RPC procedure is
// timed and counted with its result status, file data through READ and WRITE is counted, and the
// read path, write path, memory budget and connection count are read at scrape time.

import { performance } from 'node:perf_hooks';
import { MOUNT_PROGRAM, MountProc, MountStat3 } from '../../protocol/mount.js';
import { NFS_PROGRAM, Nfs3Proc, NfsStat3 } from '../../protocol/nfs3/constants.js';
import type { XdrWriter } from '../../protocol/xdr.js';
import type { FileSystem } from '../fs/file-system.js';
import type { OpenExport } from '../fs/export.js';
import type { ProcedureMetrics, S3nfsMetrics } from '../metrics/s3nfs-metrics.js';
import { CallRefused } from '../server/call-refused.js';
import type { RpcProcedure, RpcProgram, RpcVersion } from '../server/program.js';

const nameOf = (table: Readonly<Record<string, number>>): ReadonlyMap<number, string> =>
  new Map(Object.entries(table).map(([name, value]) => [value, name]));

const NFS_STATUS_NAMES = nameOf(NfsStat3);
const MOUNT_STATUS_NAMES = nameOf(MountStat3);

/** The names of the status a procedure's results start with, when they start with one. */
function statusNames(program: number, procedure: number): ReadonlyMap<number, string> | undefined {
  if (program === NFS_PROGRAM && procedure !== Nfs3Proc.NULL) return NFS_STATUS_NAMES;
  if (program === MOUNT_PROGRAM && procedure === MountProc.MNT) return MOUNT_STATUS_NAMES;
  return undefined;
}

/** The metric label of a program: "nfs", "mount", "nlm", "portmap" (the names docs/monitoring.md uses). */
function programLabel(p: RpcProgram): string {
  if (p.name === 'portmapper') return 'portmap';
  if (p.name === 'nlockmgr') return 'nlm';
  if (p.name === 'status') return 'nsm';
  return p.name;
}

function failureName(err: unknown): string {
  if (err instanceof CallRefused) {
    switch (err.refusal.kind) {
      case 'garbage-args':
        return 'GARBAGE_ARGS';
      case 'system-err':
        return 'SYSTEM_ERR';
      case 'auth-error':
        return 'AUTH_ERROR';
    }
  }
  return 'SYSTEM_ERR';
}

/** Runs `encode` and hands back the first word it wrote: the status of results that start with one. */
function encodeAndPeek(w: XdrWriter, encode: (w: XdrWriter) => void): number | undefined {
  const start = w.length;
  encode(w);
  return w.uint32At(start);
}

function instrumentProcedure(
  proc: RpcProcedure,
  m: ProcedureMetrics,
  statuses: ReadonlyMap<number, string> | undefined,
): RpcProcedure {
  return {
    name: proc.name,
    idempotent: proc.idempotent,
    decodeArgs(r) {
      const call = proc.decodeArgs(r);
      return {
        async run(ctx) {
          const start = performance.now();
          let encode: (w: XdrWriter) => void;
          try {
            encode = await call.run(ctx);
          } catch (err) {
            m.record((performance.now() - start) / 1000, failureName(err));
            throw err;
          }
          if (statuses === undefined) {
            m.record((performance.now() - start) / 1000);
            return encode;
          }
          return (w) => {
            const status = encodeAndPeek(w, encode);
            const name = status === undefined ? undefined : (statuses.get(status) ?? `STATUS_${status}`);
            m.record((performance.now() - start) / 1000, name);
          };
        },
      };
    },
  };
}

/** The same program with every procedure counted and timed under s3nfs_rpc_*. */
export function instrumentProgram(program: RpcProgram, metrics: S3nfsMetrics): RpcProgram {
  const label = programLabel(program);
  const versions: Record<number, RpcVersion> = {};
  for (const [v, table] of Object.entries(program.versions)) {
    const wrapped: Record<number, RpcProcedure> = {};
    for (const [n, proc] of Object.entries(table)) {
      const number = Number(n);
      wrapped[number] = instrumentProcedure(proc, metrics.procedure(label, proc.name), statusNames(program.program, number));
    }
    versions[Number(v)] = wrapped;
  }
  return { name: program.name, program: program.program, versions };
}

/** A FileSystem that counts the file data READ returns and WRITE receives. */
export function meteredFileSystem(fs: FileSystem, metrics: S3nfsMetrics): FileSystem {
  const readBytes = metrics.nfsReadBytes;
  const writeBytes = metrics.nfsWriteBytes;
  // Every other member is the file system's own; only read and write are observed.
  return new Proxy(fs, {
    get(target, prop) {
      if (prop === 'read') {
        const read: FileSystem['read'] = async (id, offset, count) => {
          const reply = await target.read(id, offset, count);
          readBytes.inc(reply.data.length);
          return reply;
        };
        return read;
      }
      if (prop === 'write') {
        const write: FileSystem['write'] = async (id, offset, data, stable) => {
          const reply = await target.write(id, offset, data, stable);
          writeBytes.inc(reply.count);
          return reply;
        };
        return write;
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface ScrapeSources {
  readonly exported: OpenExport;
  readonly connections: () => number;
}

/** Values read at every scrape: memory, staged files, read-ahead outcomes, open connections. */
export function wireScrapeSources(metrics: S3nfsMetrics, sources: ScrapeSources): void {
  const { exported } = sources;
  metrics.setMemorySource(exported.budget);
  metrics.clientsConnected.setCollector(sources.connections);
  if (exported.writePath) {
    const writePath = exported.writePath;
    metrics.setWriteStagingSource(() => {
      const t = writePath.status().totals;
      return { stagedBytes: t.unpublishedBytes, staged: t.writing, publishing: t.publishing, failed: t.failed };
    });
  }
  // The read path keeps running totals; the counters advance by the difference at each scrape.
  const hitsBuffer = metrics.prefetchHits.labels({ source: 'buffer' });
  const hitsInFlight = metrics.prefetchHits.labels({ source: 'in_flight' });
  const misses = metrics.prefetchMisses;
  let last = { bufferHits: 0, inflightHits: 0, misses: 0 };
  metrics.registry.beforeCollect(() => {
    const s = exported.readPath.stats();
    hitsBuffer.inc(Math.max(0, s.bufferHits - last.bufferHits));
    hitsInFlight.inc(Math.max(0, s.inflightHits - last.inflightHits));
    misses.inc(Math.max(0, s.misses - last.misses));
    last = { bufferHits: s.bufferHits, inflightHits: s.inflightHits, misses: s.misses };
  });
}
