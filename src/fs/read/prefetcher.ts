// Serves READs of one object version from ranged GETs, prefetching ahead of a sequential reader.
//
// The object is fetched in chunks: one chunk = one ranged GET. Chunk boundaries always fall on a
// multiple of the granule (1 MiB) or at the end of the object, and a chunk never crosses a part
// boundary (a multiple of partSize: --read-part-size), so granule-aligned READs of at most a granule (what
// the Linux client sends) are always a view of a single GET body, never a copy.
//
// Access pattern:
// - A stream starts when a read lands near where the last one ended (or at the start of the
//   file). Its window (bytes fetched ahead of the reader) starts at initialWindow and grows
//   growthFactor-fold (8, Mountpoint's multiplier) each time the reader has consumed a window's
//   worth while having to wait for data, up to min(maxWindow, budget share). Doubling took a
//   reader of a 64 MiB object about 20% longer (in-process against RGW, one 1 MiB read at a
//   time). Once the window reaches a part, read-ahead GETs are whole parts.
// - Reads a little behind or ahead of the stream (the kernel's readahead reorders READs) are
//   served from chunks already buffered or in flight; consumed chunks are kept for backWindow
//   bytes behind the furthest read, then released.
// - A far read resets: everything buffered elsewhere is dropped (in-flight GETs no reader waits
//   for are aborted) and the file is in random mode, where each read fetches just the granules it
//   needs, until reads become sequential again.
//
// Versions: every GET carries If-Match with the ETag the object was opened with. Without one,
// the first GET goes alone and unconditional, and its ETag is used for every later GET. A 412,
// a 404 or a range the opened version must have had all mean the object changed: the prefetcher
// fails with ReadPathError('Stale') from then on, so no reply ever mixes two versions.
//
// Memory: each chunk holds a MemoryBudget reservation from before its GET until it is dropped. A
// dropped chunk's body goes back to the store for reuse (ObjectStore.recycle) once every view of it
// a read handed out has been released, so at S3 speed no new buffers are allocated.
// Read-ahead only uses free budget (after asking reclaimers); when refused the window halves.
// A read whose bytes are not buffered always gets its own small GET, reserved with overcommit
// if need be, so progress never waits on memory (no deadlock); the overshoot is bounded by the
// number of READs in flight times 2 granules.

import { isObjectStoreError, type ArrivingBody, type ObjectStore } from '../../s3/object-store.js';
import { ReadPathError, isReadPathError } from './errors.js';
import type { MemoryBudget, Reservation } from './memory-budget.js';

const MiB = 1024 * 1024;

export interface PrefetchOptions {
  /** Read-ahead GETs are whole parts once the window reaches this size; no GET crosses a part boundary. */
  partSize: number;
  /** Smallest GET (except at the end of the object) and the alignment of every GET. */
  granule: number;
  /** The window a new stream starts with. */
  initialWindow: number;
  /** What the window is multiplied by each time it grows. */
  growthFactor: number;
  /** The largest window (bytes fetched ahead of the reader). */
  maxWindow: number;
  /** No window grows past this fraction of the memory budget. */
  maxBudgetShare: number;
  /** Bytes kept behind the furthest read, for READs the client reordered. */
  backWindow: number;
}

export const DEFAULT_PREFETCH_OPTIONS: Readonly<PrefetchOptions> = Object.freeze({
  partSize: 8 * MiB,
  granule: 1 * MiB,
  initialWindow: 1 * MiB,
  growthFactor: 8,
  maxWindow: 128 * MiB,
  maxBudgetShare: 0.25,
  backWindow: 4 * MiB,
});

/** Fills in defaults and checks the options fit together. */
export function resolvePrefetchOptions(partial: Partial<PrefetchOptions> = {}): PrefetchOptions {
  const o: PrefetchOptions = { ...DEFAULT_PREFETCH_OPTIONS, ...partial };
  for (const name of ['partSize', 'granule', 'initialWindow', 'maxWindow'] as const) {
    if (!(Number.isSafeInteger(o[name]) && o[name] > 0)) {
      throw new RangeError(`${name} must be a positive integer, got ${o[name]}`);
    }
  }
  if (!(Number.isSafeInteger(o.growthFactor) && o.growthFactor >= 2)) {
    throw new RangeError(`growthFactor must be an integer of at least 2, got ${o.growthFactor}`);
  }
  if (!(Number.isSafeInteger(o.backWindow) && o.backWindow >= 0)) {
    throw new RangeError(`backWindow must be a non-negative integer`);
  }
  if (o.partSize % o.granule !== 0) {
    throw new RangeError(`partSize (${o.partSize}) must be a multiple of granule (${o.granule})`);
  }
  if (!(o.maxBudgetShare > 0 && o.maxBudgetShare <= 1)) throw new RangeError(`maxBudgetShare must be in (0, 1]`);
  o.initialWindow = Math.max(o.granule, roundDown(o.initialWindow, o.granule));
  o.maxWindow = Math.max(o.initialWindow, roundDown(o.maxWindow, o.granule));
  return o;
}

/** The object version a prefetcher reads. */
export interface ReadTarget {
  key: string;
  /** Size of the object as the caller knows it; reads are clamped to it. */
  size: number;
  /** The ETag the caller opened with; without one the first GET decides the version. */
  etag?: string;
}

export interface ReadResult {
  /** A view of a GET body (a copy only when the read straddles two GETs). */
  data: Buffer;
  /** True when the data reaches the end of the object. */
  eof: boolean;
  /**
   * Call once nothing reads `data` any more (its reply was written): the GET body behind it may then be
   * reused for another GET. Never calling it is safe; the body is then left to the GC.
   */
  release?: () => void;
}

export interface PrefetchStats {
  reads: number;
  bytesServed: number;
  /** Reads served entirely from data already received. */
  bufferHits: number;
  /** Reads that waited only for GETs already in flight before they arrived. */
  inflightHits: number;
  /** Reads that needed a GET started for them. */
  misses: number;
  /** Reads that spanned two GETs and were copied into one buffer. */
  straddles: number;
  getsIssued: number;
  /** Read-ahead GETs aborted because the reader went elsewhere. */
  getsAborted: number;
  getsFailed: number;
  bytesRequested: number;
  bytesFetched: number;
  /** Far reads that dropped the stream. */
  seeks: number;
  windowGrowths: number;
  windowShrinks: number;
  /** Chunks reserved past the budget's limit so a read could make progress. */
  overcommits: number;
  staleErrors: number;
}

export function emptyPrefetchStats(): PrefetchStats {
  return {
    reads: 0,
    bytesServed: 0,
    bufferHits: 0,
    inflightHits: 0,
    misses: 0,
    straddles: 0,
    getsIssued: 0,
    getsAborted: 0,
    getsFailed: 0,
    bytesRequested: 0,
    bytesFetched: 0,
    seeks: 0,
    windowGrowths: 0,
    windowShrinks: 0,
    overcommits: 0,
    staleErrors: 0,
  };
}

/** Adds `from` into `into`, counter by counter. */
export function addPrefetchStats(into: PrefetchStats, from: PrefetchStats): PrefetchStats {
  for (const k of Object.keys(into) as (keyof PrefetchStats)[]) into[k] += from[k];
  return into;
}

type ChunkState = 'loading' | 'ready' | 'failed';

interface Chunk {
  readonly id: number;
  readonly start: number;
  readonly end: number;
  state: ChunkState;
  body?: Buffer;
  /** While loading (with If-Match): the body as it arrives, so reads need not wait for all of it. */
  arriving?: ArrivingBody;
  error?: unknown;
  /** Settles (never rejects) when the GET is done either way. */
  ready: Promise<void>;
  readonly controller: AbortController;
  readonly reservation: Reservation;
  /** Reads waiting on or using this chunk: it is never aborted while pinned. */
  pins: number;
  /** Views of the body handed out and not released: the body is recycled only at zero. */
  lent: number;
  /** Dropped from the buffer; its reservation goes back once the GET settles. */
  evicted: boolean;
  /** Reserved past the budget's limit: dropped as soon as no read uses it. */
  readonly overcommitted: boolean;
}

const EMPTY = Buffer.alloc(0);

export class ReadPrefetcher {
  readonly key: string;
  readonly size: number;
  readonly stats = emptyPrefetchStats();
  private readonly opts: PrefetchOptions;
  private currentEtag: string | undefined;
  /** While no ETag is known, the one unconditional GET in flight; others wait for it. */
  private probe: Promise<void> | undefined;
  /** Sorted by start, never overlapping. */
  private chunks: Chunk[] = [];
  private nextChunkId = 0;
  /** The furthest byte any read of the current stream reached. */
  private highWater = 0;
  /** Read-ahead window in bytes; 0 means random mode (no read-ahead). */
  private window = 0;
  private sinceGrowth = 0;
  private waitedSinceGrowth = false;
  private failure: ReadPathError | undefined;
  private closed = false;
  private active = 0;
  private used: number;

  constructor(
    private readonly store: ObjectStore,
    target: ReadTarget,
    private readonly budget: MemoryBudget,
    options: Partial<PrefetchOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    if (!(Number.isSafeInteger(target.size) && target.size >= 0)) {
      throw new RangeError(`object size must be a non-negative integer`);
    }
    this.key = target.key;
    this.size = target.size;
    this.currentEtag = target.etag;
    this.opts = resolvePrefetchOptions(options);
    this.used = now();
  }

  /** The version being read: the one opened with, or the one the first GET found. */
  get etag(): string | undefined {
    return this.currentEtag;
  }

  /** Current read-ahead window in bytes (0 in random mode). */
  get windowBytes(): number {
    return this.window;
  }

  /** Bytes of chunks buffered or in flight. */
  get bufferedBytes(): number {
    let sum = 0;
    for (const c of this.chunks) sum += c.end - c.start;
    return sum;
  }

  get activeReads(): number {
    return this.active;
  }

  /** When a read last started or finished (the clock given to the constructor). */
  get lastUsed(): number {
    return this.used;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Set once the object is known to have changed; every read fails with it. */
  get staleError(): ReadPathError | undefined {
    return this.failure;
  }

  async read(offset: number, count: number): Promise<ReadResult> {
    if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(count) && count >= 0)) {
      throw new RangeError(`read offset and count must be non-negative integers, got ${offset}, ${count}`);
    }
    if (this.failure) throw this.failure;
    if (this.closed) throw new ReadPathError('Closed', `read of ${this.key} after its prefetcher was closed`);
    this.stats.reads++;
    this.used = this.now();
    if (offset >= this.size || count === 0) return { data: EMPTY, eof: offset >= this.size };
    const end = Math.min(offset + count, this.size);

    this.active++;
    const pinned: Chunk[] = [];
    try {
      const firstNewChunk = this.nextChunkId;
      this.observe(offset, end);
      if (this.window > 0) this.readAhead(offset, end);
      this.cover(offset, end, pinned);

      const created = pinned.some((c) => c.id >= firstNewChunk);
      const waiting = pinned.some((c) => c.state === 'loading');
      if (created) this.stats.misses++;
      else if (waiting) this.stats.inflightHits++;
      else this.stats.bufferHits++;
      if (waiting) this.waitedSinceGrowth = true;

      const need = (c: Chunk): number => Math.min(end, c.end) - c.start;
      // Waiting for one chunk, another may have failed or restarted: check them all again after.
      do {
        for (const c of pinned) await this.arrived(c, need(c));
        if (this.failure) throw this.failure;
        for (const c of pinned) if (c.state === 'failed') throw c.error;
      } while (!pinned.every((c) => c.state === 'ready' || (c.arriving?.received() ?? 0) >= need(c)));

      const data = assemble(pinned, offset, end);
      this.stats.bytesServed += data.length;
      if (pinned.length > 1) {
        this.stats.straddles++;
        return { data, eof: end >= this.size }; // a copy: no body is lent
      }
      return { data, eof: end >= this.size, release: this.lend(pinned[0]!) };
    } finally {
      for (const c of pinned) this.unpin(c);
      this.active--;
      this.used = this.now();
      if (!this.closed && this.window > 0) this.releaseBehind();
    }
  }

  /**
   * Drops data the reader has moved past (all settled data in random mode), keeping nothing
   * in use by a read. Returns the bytes given back. Called under memory pressure.
   */
  trimConsumed(): number {
    let freed = 0;
    for (const c of [...this.chunks]) {
      if (c.pins > 0 || c.state === 'loading') continue;
      if (this.window > 0 && c.end > this.highWater) continue;
      freed += c.end - c.start;
      this.evict(c);
    }
    return freed;
  }

  /** Drops everything; reads in progress still complete, later reads fail with 'Closed'. */
  close(): void {
    this.closed = true;
    for (const c of [...this.chunks]) this.evict(c);
  }

  // ---- access pattern -----------------------------------------------------------------------

  /** Classifies a read as part of the stream (maybe growing the window) or a far seek. */
  private observe(offset: number, end: number): void {
    const { granule, partSize, backWindow, initialWindow } = this.opts;
    const streaming = this.window > 0;
    const back = streaming ? Math.max(backWindow, this.window) : granule;
    const forward = streaming ? Math.max(this.window, partSize) : granule;
    const near =
      this.chunkAt(offset) !== undefined || (offset >= this.highWater - back && offset <= this.highWater + forward);
    if (!near) {
      this.seek(offset, end);
      return;
    }
    if (!streaming) {
      this.window = initialWindow;
      this.sinceGrowth = 0;
      this.waitedSinceGrowth = false;
    }
    if (end > this.highWater) {
      this.sinceGrowth += end - this.highWater;
      this.highWater = end;
    }
    const cap = this.windowCap();
    if (this.waitedSinceGrowth && this.sinceGrowth >= this.window && this.window < cap) {
      this.window = Math.min(this.window * this.opts.growthFactor, cap);
      this.sinceGrowth = 0;
      this.waitedSinceGrowth = false;
      this.stats.windowGrowths++;
    }
  }

  private seek(offset: number, end: number): void {
    if (this.stats.reads > 1) this.stats.seeks++; // the first read starting mid-file is no seek
    for (const c of [...this.chunks]) if (c.end <= offset || c.start >= end) this.evict(c);
    this.window = 0;
    this.highWater = end;
    this.sinceGrowth = 0;
    this.waitedSinceGrowth = false;
  }

  private windowCap(): number {
    const { granule, maxWindow, maxBudgetShare } = this.opts;
    return Math.max(granule, Math.min(maxWindow, roundDown(Math.floor(this.budget.limit * maxBudgetShare), granule)));
  }

  /** Tops the window up when a part's worth (or half a small window) is missing ahead of `end`. */
  private readAhead(offset: number, end: number): void {
    const { granule, partSize } = this.opts;
    if (end >= this.size) return;
    const covered = this.coveredFrom(end);
    if (covered >= this.size) return;
    const deficit = this.window - (covered - end);
    if (deficit < Math.min(partSize, this.window / 2)) return;
    const unit = this.window >= partSize ? partSize : granule;
    const target = Math.min(this.size, roundUp(end + this.window, unit));
    this.issue(roundDown(offset, granule), target);
  }

  /** Starts read-ahead GETs for the gaps in [from, to) until the budget says no. */
  private issue(from: number, to: number): void {
    let pos = from;
    while (pos < to) {
      const at = this.chunkAt(pos);
      if (at) {
        pos = at.end;
        continue;
      }
      const next = this.chunkAfter(pos);
      const stop = Math.min(to, next ? next.start : Infinity, this.partEnd(pos), this.size);
      const reservation = this.reserveAhead(stop - pos);
      if (!reservation) {
        this.shrinkWindow();
        return;
      }
      this.startChunk(pos, stop, reservation);
      pos = stop;
    }
  }

  /** Pins the chunks covering [offset, end), starting a GET for any gap. */
  private cover(offset: number, end: number, pinned: Chunk[]): void {
    const { granule } = this.opts;
    let pos = offset;
    while (pos < end) {
      let c = this.chunkAt(pos);
      if (!c) {
        const start = roundDown(pos, granule);
        const next = this.chunkAfter(pos);
        const stop = Math.min(roundUp(end, granule), next ? next.start : Infinity, this.partEnd(start), this.size);
        const { reservation, overcommitted } = this.reserveDemand(stop - start);
        c = this.startChunk(start, stop, reservation, overcommitted);
      }
      c.pins++;
      pinned.push(c);
      pos = c.end;
    }
  }

  /** The end of the part holding `pos`: no GET crosses it. */
  private partEnd(pos: number): number {
    return roundDown(pos, this.opts.partSize) + this.opts.partSize;
  }

  private shrinkWindow(): void {
    const smaller = Math.max(this.opts.granule, roundDown(this.window / 2, this.opts.granule));
    if (smaller < this.window) this.stats.windowShrinks++;
    this.window = smaller;
    this.sinceGrowth = 0;
    this.waitedSinceGrowth = false;
  }

  /** Drops chunks wholly more than the back window behind the stream. */
  private releaseBehind(): void {
    const limit = this.highWater - this.opts.backWindow;
    while (this.chunks.length > 0) {
      const c = this.chunks[0]!;
      if (c.end > limit || c.pins > 0) return;
      this.evict(c);
    }
  }

  // ---- memory -------------------------------------------------------------------------------

  private reserveAhead(bytes: number): Reservation | undefined {
    let r = this.budget.tryReserve(bytes);
    if (r) return r;
    this.budget.reclaim(bytes);
    r = this.budget.tryReserve(bytes);
    return r;
  }

  private reserveDemand(bytes: number): { reservation: Reservation; overcommitted: boolean } {
    let r = this.budget.tryReserve(bytes);
    if (!r) {
      this.trimConsumed();
      r = this.budget.tryReserve(bytes);
    }
    if (!r) {
      this.budget.reclaim(bytes);
      r = this.budget.tryReserve(bytes);
    }
    if (r) return { reservation: r, overcommitted: false };
    this.stats.overcommits++;
    return { reservation: this.budget.reserveOvercommit(bytes), overcommitted: true };
  }

  // ---- chunks -------------------------------------------------------------------------------

  /** Index of the first chunk ending after `pos`. */
  private indexAfter(pos: number): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.chunks[mid]!.end <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private chunkAt(pos: number): Chunk | undefined {
    const c = this.chunks[this.indexAfter(pos)];
    return c && c.start <= pos ? c : undefined;
  }

  /** The first chunk starting after `pos` (for a `pos` no chunk contains). */
  private chunkAfter(pos: number): Chunk | undefined {
    return this.chunks[this.indexAfter(pos)];
  }

  /** Where contiguous buffered/in-flight data starting at `pos` ends (`pos` when none). */
  private coveredFrom(pos: number): number {
    let i = this.indexAfter(pos);
    let reach = pos;
    while (i < this.chunks.length && this.chunks[i]!.start <= reach) reach = this.chunks[i++]!.end;
    return reach;
  }

  private startChunk(start: number, end: number, reservation: Reservation, overcommitted = false): Chunk {
    const chunk: Chunk = {
      id: this.nextChunkId++,
      start,
      end,
      state: 'loading',
      ready: Promise.resolve(),
      controller: new AbortController(),
      reservation,
      pins: 0,
      lent: 0,
      evicted: false,
      overcommitted,
    };
    this.chunks.splice(this.indexAfter(start), 0, chunk);
    chunk.ready = this.load(chunk);
    return chunk;
  }

  private async load(c: Chunk): Promise<void> {
    let probeDone: (() => void) | undefined;
    let ifMatch = this.currentEtag;
    try {
      if (ifMatch === undefined) {
        while (this.currentEtag === undefined && this.probe) await this.probe;
        ifMatch = this.currentEtag;
        if (ifMatch === undefined) this.probe = new Promise<void>((resolve) => (probeDone = resolve));
      }
      if (this.failure) throw this.failure;
      c.controller.signal.throwIfAborted();
      this.stats.getsIssued++;
      this.stats.bytesRequested += c.end - c.start;
      const res = await this.store.get({
        key: this.key,
        range: { start: c.start, end: c.end },
        signal: c.controller.signal,
        // Pinned to a version, the first bytes can be used before the last arrive.
        ...(ifMatch !== undefined
          ? {
              ifMatch,
              onArriving: (body: ArrivingBody) => {
                if (body.data.length === c.end - c.start && c.state === 'loading') c.arriving = body;
              },
            }
          : {}),
      });
      if (ifMatch === undefined) {
        if (res.size !== this.size) {
          const what = `${this.key} has ${res.size} bytes, not the ${this.size} it was opened with`;
          throw new ReadPathError('Stale', what);
        }
        this.currentEtag = res.etag;
      }
      if (res.body.length !== c.end - c.start) {
        const what = `GET ${this.key} [${c.start}, ${c.end}) returned ${res.body.length} bytes`;
        throw new ReadPathError('ShortBody', what);
      }
      c.body = res.body;
      c.arriving = undefined;
      c.state = 'ready';
      this.stats.bytesFetched += res.body.length;
    } catch (err) {
      c.arriving = undefined;
      c.state = 'failed';
      c.error = this.explain(err, ifMatch !== undefined);
      if (c.controller.signal.aborted) this.stats.getsAborted++;
      else this.stats.getsFailed++;
      if (isReadPathError(c.error, 'Stale')) this.markStale(c.error);
      // A failed chunk leaves the buffer at once so a later read fetches it again.
      this.evict(c);
    } finally {
      if (probeDone) {
        this.probe = undefined;
        probeDone();
      }
      if (c.evicted) {
        c.reservation.release();
        this.recycle(c);
      }
    }
  }

  /** Turns "the version is gone" store errors into Stale; others pass through. */
  private explain(err: unknown, conditional: boolean): unknown {
    if (isObjectStoreError(err, 'PreconditionFailed')) {
      const what = `${this.key} changed since it was opened (ETag ${this.currentEtag})`;
      return new ReadPathError('Stale', what, { cause: err });
    }
    if (isObjectStoreError(err, 'NotFound')) {
      return new ReadPathError('Stale', `${this.key} was deleted since it was opened`, { cause: err });
    }
    if (conditional && isObjectStoreError(err, 'InvalidRange')) {
      return new ReadPathError('Stale', `${this.key} shrank since it was opened`, { cause: err });
    }
    return err;
  }

  private markStale(err: ReadPathError): void {
    if (this.failure) return;
    this.failure = err;
    this.stats.staleErrors++;
    for (const c of [...this.chunks]) this.evict(c);
  }

  private evict(c: Chunk): void {
    const i = this.chunks.indexOf(c);
    if (i >= 0) this.chunks.splice(i, 1);
    if (c.evicted) return;
    c.evicted = true;
    if (c.state !== 'loading') {
      c.reservation.release();
      this.recycle(c);
    } else if (c.pins === 0) c.controller.abort();
  }

  /** Waits until bytes [0, need) of `c` can be read: it loaded (or failed), or they have arrived. */
  private async arrived(c: Chunk, need: number): Promise<void> {
    while (c.state === 'loading') {
      const arriving = c.arriving;
      if (!arriving) {
        await c.ready;
        return;
      }
      if (arriving.received() >= need) return;
      // A body that fails is dropped (a retry of the GET may bring a new one); then the GET decides.
      const gone = (): void => {
        if (c.arriving === arriving) c.arriving = undefined;
      };
      await Promise.race([c.ready, arriving.whenReceived(need).catch(gone)]);
    }
  }

  /** Counts a view of `c`'s body as handed out; the returned function gives it back (once). */
  private lend(c: Chunk): () => void {
    c.lent++;
    let returned = false;
    return () => {
      if (returned) return;
      returned = true;
      c.lent--;
      this.recycle(c);
    };
  }

  /** Hands a dropped chunk's body back to the store once no view of it is out. */
  private recycle(c: Chunk): void {
    if (!c.evicted || c.lent > 0 || c.pins > 0 || !c.body) return;
    const body = c.body;
    c.body = undefined;
    this.store.recycle?.(body);
  }

  private unpin(c: Chunk): void {
    c.pins--;
    if (c.pins > 0) return;
    if (c.evicted && c.state === 'loading') c.controller.abort();
    else if (c.overcommitted && c.state !== 'loading') this.evict(c);
    else this.recycle(c);
  }
}

function assemble(chunks: Chunk[], offset: number, end: number): Buffer {
  if (chunks.length === 1) {
    const c = chunks[0]!;
    return bytesOf(c).subarray(offset - c.start, end - c.start);
  }
  const pieces = chunks.map((c) =>
    bytesOf(c).subarray(Math.max(offset, c.start) - c.start, Math.min(end, c.end) - c.start),
  );
  return Buffer.concat(pieces, end - offset);
}

/** A chunk's bytes: its body, or while it loads, the body arriving (callers check what has arrived). */
function bytesOf(c: Chunk): Buffer {
  return c.body ?? c.arriving!.data;
}

function roundDown(n: number, unit: number): number {
  return n - (n % unit);
}

function roundUp(n: number, unit: number): number {
  const r = n % unit;
  return r === 0 ? n : n + unit - r;
}
