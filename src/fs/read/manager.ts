// Keeps one ReadPrefetcher per recently read file. NFSv3 has no OPEN or CLOSE, so a prefetcher
// lives until the file has been idle for a while, until the memory budget wants its buffers,
// until too many files are open, or until the file's version changes (a read names a different
// ETag or size, or the store reports the object changed).

import { sameEtag, type ObjectStore } from '../../s3/object-store.js';
import { isReadPathError } from './errors.js';
import type { MemoryBudget } from './memory-budget.js';
import {
  ReadPrefetcher,
  addPrefetchStats,
  emptyPrefetchStats,
  resolvePrefetchOptions,
  type PrefetchOptions,
  type PrefetchStats,
  type ReadResult,
  type ReadTarget,
} from './prefetcher.js';

/** Whatever identifies a file to the caller (the 64-bit file id of its handle). */
export type FileKey = bigint | number | string;

export interface ReadPathOptions {
  /** Close a file's prefetcher after this long without reads. */
  idleMs: number;
  /** Under memory pressure, prefetchers idle this long are closed first. */
  pressureIdleMs: number;
  /** Most prefetchers kept at once; the least recently used idle one goes first. */
  maxFiles: number;
  /** How often the idle sweep runs; 0 disables the timer (call sweep() yourself). */
  sweepIntervalMs: number;
  prefetch: Partial<PrefetchOptions>;
  now: () => number;
}

export const DEFAULT_READ_PATH_OPTIONS: Readonly<Omit<ReadPathOptions, 'prefetch' | 'now'>> = Object.freeze({
  idleMs: 5000,
  pressureIdleMs: 500,
  maxFiles: 256,
  sweepIntervalMs: 1000,
});

export type CloseReason = 'idle' | 'pressure' | 'evicted' | 'invalidated' | 'stale' | 'shutdown';

export interface ReadPathStats extends PrefetchStats {
  /** Prefetchers open now, and the bytes they hold buffered or in flight. */
  openFiles: number;
  bufferedBytes: number;
  opened: number;
  closed: Record<CloseReason, number>;
}

export class ReadPathManager {
  private readonly files = new Map<FileKey, ReadPrefetcher>();
  private readonly retired = emptyPrefetchStats();
  private readonly closedBy: Record<CloseReason, number> = {
    idle: 0,
    pressure: 0,
    evicted: 0,
    invalidated: 0,
    stale: 0,
    shutdown: 0,
  };
  private opened = 0;
  private readonly options: ReadPathOptions;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly removeReclaimer: () => void;

  constructor(
    private readonly store: ObjectStore,
    private readonly budget: MemoryBudget,
    options: Partial<ReadPathOptions> = {},
  ) {
    this.options = {
      ...DEFAULT_READ_PATH_OPTIONS,
      prefetch: {},
      now: Date.now,
      ...options,
    };
    resolvePrefetchOptions(this.options.prefetch); // fail early on bad options
    if (!(this.options.maxFiles >= 1)) throw new RangeError('maxFiles must be at least 1');
    this.removeReclaimer = budget.addReclaimer((bytes) => this.reclaim(bytes));
    if (this.options.sweepIntervalMs > 0) {
      this.timer = setInterval(() => this.sweep(), this.options.sweepIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * Reads [offset, offset + count) of the file's object version. Rejects with ReadPathError
   * 'Stale' when the object no longer has that version, and with the ObjectStoreError otherwise.
   */
  read(file: FileKey, target: ReadTarget, offset: number, count: number): Promise<ReadResult> {
    const p = this.prefetcherFor(file, target);
    return p.read(offset, count).catch((err: unknown) => {
      if (isReadPathError(err, 'Stale') && this.files.get(file) === p) this.retire(file, p, 'stale');
      throw err;
    });
  }

  /** Forgets the file's buffers (its object was overwritten or deleted through this server). */
  invalidate(file: FileKey): void {
    const p = this.files.get(file);
    if (p) this.retire(file, p, 'invalidated');
  }

  /** Closes prefetchers idle for idleMs or more; returns how many. */
  sweep(): number {
    const now = this.options.now();
    let n = 0;
    for (const [file, p] of [...this.files]) {
      if (p.activeReads === 0 && now - p.lastUsed >= this.options.idleMs) {
        this.retire(file, p, 'idle');
        n++;
      }
    }
    return n;
  }

  /** Closes everything and stops the sweep timer and the budget's claim on this manager. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.removeReclaimer();
    for (const [file, p] of [...this.files]) this.retire(file, p, 'shutdown');
  }

  stats(): ReadPathStats {
    const totals = addPrefetchStats(emptyPrefetchStats(), this.retired);
    let bufferedBytes = 0;
    for (const p of this.files.values()) {
      addPrefetchStats(totals, p.stats);
      bufferedBytes += p.bufferedBytes;
    }
    return { ...totals, openFiles: this.files.size, bufferedBytes, opened: this.opened, closed: { ...this.closedBy } };
  }

  /** The open prefetcher of a file, if any (for tests and metrics). */
  prefetcher(file: FileKey): ReadPrefetcher | undefined {
    return this.files.get(file);
  }

  private prefetcherFor(file: FileKey, target: ReadTarget): ReadPrefetcher {
    let p = this.files.get(file);
    if (p && !this.matches(p, target)) {
      this.retire(file, p, 'invalidated');
      p = undefined;
    }
    if (p) {
      // Map order is use order: the first entry is the least recently used.
      this.files.delete(file);
      this.files.set(file, p);
      return p;
    }
    p = new ReadPrefetcher(this.store, target, this.budget, this.options.prefetch, this.options.now);
    this.opened++;
    this.files.set(file, p);
    this.enforceMaxFiles(file);
    return p;
  }

  private matches(p: ReadPrefetcher, target: ReadTarget): boolean {
    if (p.isClosed || p.staleError || p.key !== target.key || p.size !== target.size) return false;
    if (target.etag === undefined) return true;
    return p.etag !== undefined && sameEtag(p.etag, target.etag);
  }

  private enforceMaxFiles(keep: FileKey): void {
    if (this.files.size <= this.options.maxFiles) return;
    // Prefer an idle victim; if every file is mid-read, the least recently used goes anyway
    // (its reads in progress still finish).
    let victim: [FileKey, ReadPrefetcher] | undefined;
    for (const entry of this.files) {
      if (entry[0] === keep) continue;
      if (entry[1].activeReads === 0) {
        victim = entry;
        break;
      }
      victim ??= entry;
    }
    if (victim) this.retire(victim[0], victim[1], 'evicted');
  }

  /** The budget's reclaimer: close long-idle files, then trim consumed data everywhere. */
  private reclaim(bytes: number): void {
    const now = this.options.now();
    let freed = 0;
    for (const [file, p] of [...this.files]) {
      if (freed >= bytes) return;
      if (p.activeReads === 0 && now - p.lastUsed >= this.options.pressureIdleMs) {
        freed += p.bufferedBytes;
        this.retire(file, p, 'pressure');
      }
    }
    for (const p of this.files.values()) {
      if (freed >= bytes) return;
      freed += p.trimConsumed();
    }
  }

  private retire(file: FileKey, p: ReadPrefetcher, reason: CloseReason): void {
    p.close();
    if (this.files.get(file) === p) this.files.delete(file);
    addPrefetchStats(this.retired, p.stats);
    this.closedBy[reason]++;
  }
}
