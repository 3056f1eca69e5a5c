// Every metric s3nfs exposes, declared once (docs/monitoring.md lists them). Components get handles
// from here at startup and keep them: counting an event is then one addition, no map lookup.

import { performance } from 'node:perf_hooks';
import { isObjectStoreError, type ObjectStore } from '../s3/object-store.js';
import type { ObjectStoreApi } from '../s3/store-call.js';
import { InstrumentedObjectStore } from './instrumented-store.js';
import {
  MetricRegistry,
  type Counter,
  type CounterChild,
  type Gauge,
  type GaugeChild,
  type Histogram,
  type HistogramChild,
} from './registry.js';

/** RPC call latency: a cached GETATTR takes well under a millisecond, a READ that waits on S3 seconds. */
export const RPC_DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** S3 request latency: a local gateway answers in about a millisecond, a large part upload takes tens of seconds. */
export const S3_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** The S3 API each ObjectStore call makes, the name used in the `api` label. */
export const S3_API_NAMES: Readonly<Record<ObjectStoreApi, string>> = {
  checkBucket: 'HeadBucket',
  list: 'ListObjectsV2',
  head: 'HeadObject',
  get: 'GetObject',
  put: 'PutObject',
  delete: 'DeleteObject',
  copy: 'CopyObject',
  createMultipartUpload: 'CreateMultipartUpload',
  uploadPart: 'UploadPart',
  uploadPartCopy: 'UploadPartCopy',
  completeMultipartUpload: 'CompleteMultipartUpload',
  abortMultipartUpload: 'AbortMultipartUpload',
  listMultipartUploads: 'ListMultipartUploads',
};

/** Seconds since `start` (a `performance.now()` reading). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

/** The handles for one RPC procedure (e.g. program "nfs", procedure "READ"). */
export class ProcedureMetrics {
  private readonly byStatus = new Map<string, CounterChild>();

  constructor(
    private readonly requests: CounterChild,
    private readonly duration: HistogramChild,
    private readonly errors: Counter<'program' | 'procedure' | 'status'>,
    readonly program: string,
    readonly procedure: string,
  ) {}

  /**
   * One finished call. `status` is the RFC name of the result's status (NFS3ERR_NOENT, MNT3ERR_ACCES)
   * or of the RPC failure (GARBAGE_ARGS, SYSTEM_ERR); omitted or ending in `_OK` means success.
   */
  record(seconds: number, status?: string): void {
    this.requests.inc();
    this.duration.observe(seconds);
    if (status === undefined || status.endsWith('_OK')) return;
    let child = this.byStatus.get(status);
    if (child === undefined) {
      child = this.errors.labels({ program: this.program, procedure: this.procedure, status });
      this.byStatus.set(status, child);
    }
    child.inc();
  }
}

/** The handles for one S3 API; InstrumentedObjectStore calls these around every request. */
export class S3ApiMetrics {
  private readonly byKind = new Map<string, CounterChild>();

  constructor(
    private readonly requests: CounterChild,
    private readonly duration: HistogramChild,
    private readonly inFlight: GaugeChild,
    private readonly errors: Counter<'api' | 'kind'>,
    readonly api: string,
  ) {}

  /** Marks a request as started; pass the result to `succeeded` or `failed`. */
  begin(): number {
    this.inFlight.inc();
    return performance.now();
  }

  succeeded(start: number): void {
    this.finish(start);
  }

  /** The error's ObjectStoreError kind becomes the `kind` label; an aborted GET is `Aborted`. */
  failed(start: number, err: unknown): void {
    this.finish(start);
    const kind = isObjectStoreError(err)
      ? err.kind
      : err instanceof Error && err.name === 'AbortError'
        ? 'Aborted'
        : 'Other';
    let child = this.byKind.get(kind);
    if (child === undefined) {
      child = this.errors.labels({ api: this.api, kind });
      this.byKind.set(kind, child);
    }
    child.inc();
  }

  private finish(start: number): void {
    this.inFlight.dec();
    this.requests.inc();
    this.duration.observe(secondsSince(start));
  }
}

/** What the write path reports at scrape time. */
export interface WriteStagingSnapshot {
  /** Bytes written by clients, held locally (memory or staging directory) and not yet published. */
  stagedBytes: number;
  /** Files with unpublished writes, waiting for their quiet period. */
  staged: number;
  /** Files whose upload is running. */
  publishing: number;
  /** Files whose last publish attempt failed (they are retried). */
  failed: number;
}

export interface S3nfsMetricsOptions {
  /** The s3nfs version for s3nfs_build_info. */
  version?: string;
  /** Add process_* and nodejs_* metrics about this process. Default true. */
  processMetrics?: boolean;
}

export class S3nfsMetrics {
  readonly registry = new MetricRegistry();

  // ---- RPC (NFS, MOUNT, portmap) ----
  readonly rpcRequests: Counter<'program' | 'procedure'>;
  readonly rpcErrors: Counter<'program' | 'procedure' | 'status'>;
  readonly rpcDuration: Histogram<'program' | 'procedure'>;
  /** Calls refused before any procedure ran, by reason (e.g. "insecure_port", "garbage_args"). */
  readonly rpcRejected: Counter<'reason'>;
  /** Retransmitted calls answered from the duplicate-request cache. */
  readonly rpcDuplicateReplies: Counter;
  readonly clientsConnected: Gauge;
  /** Data bytes sent in READ replies. */
  readonly nfsReadBytes: Counter;
  /** Data bytes received in WRITE calls. */
  readonly nfsWriteBytes: Counter;

  // ---- S3 ----
  readonly s3Requests: Counter<'api'>;
  readonly s3Errors: Counter<'api' | 'kind'>;
  readonly s3Duration: Histogram<'api'>;
  readonly s3InFlight: Gauge<'api'>;
  readonly s3DownloadedBytes: Counter;
  readonly s3UploadedBytes: Counter;
  readonly s3CopiedBytes: Counter;

  // ---- read path ----
  /** READs served from read-ahead, by where the data was: "buffer" (received) or "in_flight" (GET running). */
  readonly prefetchHits: Counter<'source'>;
  /** READs that needed a GET started for them. */
  readonly prefetchMisses: Counter;

  // ---- write path ----
  readonly stagedBytes: Gauge;
  readonly stagedFiles: Gauge<'state'>;
  readonly publishedFiles: Counter;
  readonly publishFailures: Counter;

  // ---- memory ----
  readonly bufferMemory: Gauge;
  readonly bufferMemoryLimit: Gauge;

  private readonly procedures = new Map<string, ProcedureMetrics>();
  private readonly s3Apis = new Map<ObjectStoreApi, S3ApiMetrics>();
  private readonly prefetchBuffer: CounterChild;
  private readonly prefetchInFlight: CounterChild;
  private readonly filesStaged: GaugeChild;
  private readonly filesPublishing: GaugeChild;
  private readonly filesFailed: GaugeChild;
  private stagingHook: (() => void) | undefined;

  constructor(opts: S3nfsMetricsOptions = {}) {
    const r = this.registry;
    r.gauge({
      name: 's3nfs_build_info',
      help: 'Always 1; the labels say which s3nfs runs.',
      labelNames: ['version', 'node_version'],
    })
      .labels({ version: opts.version ?? 'unknown', node_version: process.version })
      .set(1);

    this.rpcRequests = r.counter({
      name: 's3nfs_rpc_requests_total',
      help: 'RPC calls answered, by program and procedure.',
      labelNames: ['program', 'procedure'],
    });
    this.rpcErrors = r.counter({
      name: 's3nfs_rpc_errors_total',
      help: 'RPC calls answered with a status other than OK, by program, procedure and status name.',
      labelNames: ['program', 'procedure', 'status'],
    });
    this.rpcDuration = r.histogram({
      name: 's3nfs_rpc_duration_seconds',
      help: 'Time from a call being received to its reply being queued.',
      labelNames: ['program', 'procedure'],
      buckets: RPC_DURATION_BUCKETS,
    });
    this.rpcRejected = r.counter({
      name: 's3nfs_rpc_rejected_total',
      help: 'RPC calls refused before any procedure ran, by reason.',
      labelNames: ['reason'],
    });
    this.rpcDuplicateReplies = r.counter({
      name: 's3nfs_rpc_duplicate_replies_total',
      help: 'Retransmitted calls answered from the duplicate-request cache.',
    });
    this.clientsConnected = r.gauge({ name: 's3nfs_clients_connected', help: 'Open client TCP connections.' });
    this.nfsReadBytes = r.counter({
      name: 's3nfs_nfs_read_bytes_total',
      help: 'File data bytes sent to clients in READ replies.',
    });
    this.nfsWriteBytes = r.counter({
      name: 's3nfs_nfs_write_bytes_total',
      help: 'File data bytes received from clients in WRITE calls.',
    });

    this.s3Requests = r.counter({
      name: 's3nfs_s3_requests_total',
      help: 'S3 requests completed (successfully or not), by API.',
      labelNames: ['api'],
    });
    this.s3Errors = r.counter({
      name: 's3nfs_s3_errors_total',
      help: 'S3 requests that failed, by API and error kind.',
      labelNames: ['api', 'kind'],
    });
    this.s3Duration = r.histogram({
      name: 's3nfs_s3_request_duration_seconds',
      help: 'S3 request latency, including the SDK\'s own retries.',
      labelNames: ['api'],
      buckets: S3_DURATION_BUCKETS,
    });
    this.s3InFlight = r.gauge({
      name: 's3nfs_s3_requests_in_flight',
      help: 'S3 requests running now, by API.',
      labelNames: ['api'],
    });
    this.s3DownloadedBytes = r.counter({
      name: 's3nfs_s3_downloaded_bytes_total',
      help: 'Object bytes received in GetObject bodies.',
    });
    this.s3UploadedBytes = r.counter({
      name: 's3nfs_s3_uploaded_bytes_total',
      help: 'Object bytes sent in successful PutObject and UploadPart requests.',
    });
    this.s3CopiedBytes = r.counter({
      name: 's3nfs_s3_copied_bytes_total',
      help: 'Bytes reused server-side by successful UploadPartCopy requests (not sent over the network).',
    });

    this.prefetchHits = r.counter({
      name: 's3nfs_prefetch_hits_total',
      help: 'READs served by read-ahead, by whether the data was received ("buffer") or still arriving ("in_flight").',
      labelNames: ['source'],
    });
    this.prefetchMisses = r.counter({
      name: 's3nfs_prefetch_misses_total',
      help: 'READs that needed a GET started for them.',
    });
    this.prefetchBuffer = this.prefetchHits.labels({ source: 'buffer' });
    this.prefetchInFlight = this.prefetchHits.labels({ source: 'in_flight' });

    this.stagedBytes = r.gauge({
      name: 's3nfs_staged_bytes',
      help: 'Written bytes held locally and not yet published to S3.',
    });
    this.stagedFiles = r.gauge({
      name: 's3nfs_staged_files',
      help: 'Files with unpublished writes, by state: staged (waiting), publishing, failed (to be retried).',
      labelNames: ['state'],
    });
    this.filesStaged = this.stagedFiles.labels({ state: 'staged' });
    this.filesPublishing = this.stagedFiles.labels({ state: 'publishing' });
    this.filesFailed = this.stagedFiles.labels({ state: 'failed' });
    this.publishedFiles = r.counter({
      name: 's3nfs_published_files_total',
      help: 'Files published to S3 (objects created or replaced).',
    });
    this.publishFailures = r.counter({ name: 's3nfs_publish_failures_total', help: 'Publish attempts that failed.' });

    this.bufferMemory = r.gauge({
      name: 's3nfs_buffer_memory_bytes',
      help: 'Memory reserved for read and write buffers.',
    });
    this.bufferMemoryLimit = r.gauge({
      name: 's3nfs_buffer_memory_limit_bytes',
      help: 'The buffer memory target (--memory-target).',
    });

    for (const api of Object.keys(S3_API_NAMES) as ObjectStoreApi[]) {
      const name = S3_API_NAMES[api];
      const labels = { api: name };
      this.s3Apis.set(
        api,
        new S3ApiMetrics(
          this.s3Requests.labels(labels),
          this.s3Duration.labels(labels),
          this.s3InFlight.labels(labels),
          this.s3Errors,
          name,
        ),
      );
    }

    if (opts.processMetrics ?? true) this.addProcessMetrics();
  }

  /** The handles for one procedure; call once per procedure (e.g. when building the dispatch table). */
  procedure(program: string, procedure: string): ProcedureMetrics {
    const key = `${program}\u0000${procedure}`;
    let m = this.procedures.get(key);
    if (m === undefined) {
      const labels = { program, procedure };
      m = new ProcedureMetrics(
        this.rpcRequests.labels(labels),
        this.rpcDuration.labels(labels),
        this.rpcErrors,
        program,
        procedure,
      );
      this.procedures.set(key, m);
    }
    return m;
  }

  s3Api(api: ObjectStoreApi): S3ApiMetrics {
    return this.s3Apis.get(api)!;
  }

  /** Wraps a store so every call is counted and timed under s3nfs_s3_*. */
  instrument(store: ObjectStore): InstrumentedObjectStore {
    return new InstrumentedObjectStore(store, this);
  }

  prefetchHit(source: 'buffer' | 'in_flight'): void {
    (source === 'buffer' ? this.prefetchBuffer : this.prefetchInFlight).inc();
  }

  prefetchMiss(): void {
    this.prefetchMisses.inc();
  }

  /** Reads buffer memory from `budget` at every scrape (a MemoryBudget fits). */
  setMemorySource(budget: { readonly reserved: number; readonly limit: number }): void {
    this.bufferMemory.setCollector(() => budget.reserved);
    this.bufferMemoryLimit.setCollector(() => budget.limit);
  }

  /** Reads the write path's state at every scrape (replacing an earlier source). */
  setWriteStagingSource(source: () => WriteStagingSnapshot): void {
    this.stagingHook?.();
    this.stagingHook = this.registry.beforeCollect(() => {
      const s = source();
      this.stagedBytes.set(s.stagedBytes);
      this.filesStaged.set(s.staged);
      this.filesPublishing.set(s.publishing);
      this.filesFailed.set(s.failed);
    });
  }

  /** The text exposition of every metric. */
  render(): string {
    return this.registry.render();
  }

  private addProcessMetrics(): void {
    const r = this.registry;
    r.counter({ name: 'process_cpu_seconds_total', help: 'User and system CPU time spent, in seconds.' }).setCollector(
      () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      },
    );
    r.gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory size in bytes.',
      collect: () => process.memoryUsage.rss(),
    });
    r.gauge({
      name: 'process_start_time_seconds',
      help: 'Start time of the process since the Unix epoch, in seconds.',
    }).set(Math.round(performance.timeOrigin) / 1000);
    r.gauge({
      name: 'nodejs_heap_size_used_bytes',
      help: 'V8 heap in use, in bytes.',
      collect: () => process.memoryUsage().heapUsed,
    });
    r.gauge({
      name: 'nodejs_external_memory_bytes',
      help: 'Memory outside the V8 heap held by JavaScript objects (Buffers), in bytes.',
      collect: () => process.memoryUsage().external,
    });
  }
}
