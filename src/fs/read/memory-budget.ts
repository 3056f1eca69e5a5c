// One byte budget for every buffer the server holds on behalf of clients (read-ahead parts now,
// write staging later). Holders take a Reservation before they allocate and release it when the
// memory is dropped; the budget itself never allocates anything.
//
// Three ways to reserve, for three kinds of caller:
// - tryReserve: speculative work (read-ahead). Fails at once when the bytes are not free, or when
//   someone is already waiting, so optional work never jumps ahead of a waiting caller.
// - reserve: work that may wait (write staging). A FIFO queue; the head is granted first, so a
//   large request is not starved by a stream of small ones.
// - reserveOvercommit: work that must not wait (a READ whose data is not buffered anywhere).
//   Always granted, counted in the stats; callers keep these small so the overshoot is bounded
//   by (requests in flight × their size).
//
// Under pressure the budget asks its reclaimers (registered by the subsystems that hold memory)
// to give some back, synchronously, before a caller fails over to a smaller plan or waits.

export interface Reservation {
  readonly bytes: number;
  readonly released: boolean;
  /** Returns the bytes to the budget. Idempotent. */
  release(): void;
}

/**
 * Asked to free about `bytes` (it may free more or less). Must release synchronously, and must
 * not reserve from the same budget.
 */
export type Reclaimer = (bytes: number) => void;

export interface MemoryBudgetStats {
  limit: number;
  reserved: number;
  /** The highest `reserved` seen. */
  peakReserved: number;
  /** Reservations currently held. */
  reservations: number;
  /** Callers waiting in `reserve`, and the bytes they want. */
  waiting: number;
  waitingBytes: number;
  /** tryReserve calls that were refused. */
  refused: number;
  /** reserveOvercommit calls that took the budget past its limit. */
  overcommits: number;
  /** reclaim() calls (each asks every reclaimer once). */
  reclaims: number;
}

interface Waiter {
  bytes: number;
  resolve: (r: Reservation) => void;
  reject: (err: unknown) => void;
  cleanup?: () => void;
}

export class MemoryBudget {
  private used = 0;
  private peak = 0;
  private held = 0;
  private refusedCount = 0;
  private overcommitCount = 0;
  private reclaimCount = 0;
  private reclaiming = false;
  private readonly queue: Waiter[] = [];
  private readonly reclaimers = new Set<Reclaimer>();

  constructor(readonly limit: number) {
    if (!(Number.isSafeInteger(limit) && limit > 0)) {
      throw new RangeError(`memory budget must be a positive integer, got ${limit}`);
    }
  }

  get reserved(): number {
    return this.used;
  }

  /** Bytes that can be reserved now without going over the limit. */
  get available(): number {
    return Math.max(0, this.limit - this.used);
  }

  /** Grants `bytes` if they are free and nobody is waiting; otherwise undefined. */
  tryReserve(bytes: number): Reservation | undefined {
    checkBytes(bytes);
    if (this.queue.length === 0 && this.used + bytes <= this.limit) return this.grant(bytes);
    this.refusedCount++;
    return undefined;
  }

  /**
   * Waits (first come, first served) until `bytes` are free. A request larger than the whole
   * budget is granted once nothing else is reserved, so it cannot wait forever.
   * Aborting the signal rejects with the signal's reason and leaves the queue.
   */
  reserve(bytes: number, options: { signal?: AbortSignal } = {}): Promise<Reservation> {
    checkBytes(bytes);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.queue.length === 0 && this.fits(bytes)) return Promise.resolve(this.grant(bytes));
    return new Promise<Reservation>((resolve, reject) => {
      const waiter: Waiter = { bytes, resolve, reject };
      if (signal) {
        const onAbort = (): void => {
          const i = this.queue.indexOf(waiter);
          if (i < 0) return;
          this.queue.splice(i, 1);
          reject(signal.reason);
          // The head may have been blocking smaller requests behind it.
          this.pump();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(waiter);
      this.reclaim(this.queuedBytes() - this.available);
      this.pump();
    });
  }

  /** Always grants, even past the limit. For work that must make progress without waiting. */
  reserveOvercommit(bytes: number): Reservation {
    checkBytes(bytes);
    if (this.used + bytes > this.limit) this.overcommitCount++;
    return this.grant(bytes);
  }

  /** Registers a reclaimer; returns a function that unregisters it. */
  addReclaimer(reclaimer: Reclaimer): () => void {
    this.reclaimers.add(reclaimer);
    return () => {
      this.reclaimers.delete(reclaimer);
    };
  }

  /**
   * Asks the reclaimers to free memory until `bytes` more are available (or they have all been
   * asked once). Re-entrant calls (a reclaimer's release leading back here) are ignored.
   */
  reclaim(bytes: number): void {
    if (this.reclaiming || bytes <= 0 || this.reclaimers.size === 0) return;
    this.reclaiming = true;
    this.reclaimCount++;
    const target = Math.min(this.limit, this.available + bytes);
    try {
      for (const reclaimer of [...this.reclaimers]) {
        if (this.available >= target) break;
        reclaimer(target - this.available);
      }
    } finally {
      this.reclaiming = false;
    }
  }

  stats(): MemoryBudgetStats {
    return {
      limit: this.limit,
      reserved: this.used,
      peakReserved: this.peak,
      reservations: this.held,
      waiting: this.queue.length,
      waitingBytes: this.queuedBytes(),
      refused: this.refusedCount,
      overcommits: this.overcommitCount,
      reclaims: this.reclaimCount,
    };
  }

  /** For queued requests: a request larger than the whole budget fits an empty budget. */
  private fits(bytes: number): boolean {
    return this.used + bytes <= this.limit || (this.used === 0 && bytes > this.limit);
  }

  private queuedBytes(): number {
    let sum = 0;
    for (const w of this.queue) sum += w.bytes;
    return sum;
  }

  private grant(bytes: number): Reservation {
    this.used += bytes;
    this.held++;
    if (this.used > this.peak) this.peak = this.used;
    let released = false;
    return {
      bytes,
      get released() {
        return released;
      },
      release: () => {
        if (released) return;
        released = true;
        this.used -= bytes;
        this.held--;
        this.pump();
      },
    };
  }

  /** Grants queued requests in order while the head fits. */
  private pump(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (!this.fits(head.bytes)) return;
      this.queue.shift();
      head.cleanup?.();
      head.resolve(this.grant(head.bytes));
    }
  }
}

function checkBytes(bytes: number): void {
  if (!(Number.isSafeInteger(bytes) && bytes >= 0)) {
    throw new RangeError(`reservation size must be a non-negative integer, got ${bytes}`);
  }
}
