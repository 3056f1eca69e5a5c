// Reuses the buffers GetObject bodies are received into. Every fresh multi-MiB buffer is external memory
// to V8, and allocating them at S3 speed makes V8 run a full GC every few dozen MiB (and the kernel zero
// every page on first touch); handing the same buffers round again costs nothing. A buffer comes back
// only through give(), once its holder is sure nothing still reads it (replies already written to their
// sockets); one never given back is simply garbage-collected.
//
// Free buffers can be charged to a memory account (the read path's budget, see holdIn): then they count
// against --memory-target like the buffers in use, a buffer the account refuses is dropped, and the
// account's reclaim drops free buffers first. That lets the pool keep a whole read-ahead window's worth,
// so a reader starting the next file reuses the last one's buffers.

import type { MemoryAccount } from './object-store.js';

export interface BodyPoolOptions {
  /** Free buffers kept at most, in bytes; past it the oldest are left to the GC. */
  maxFreeBytes: number;
  /** Smaller bodies are plain allocations (cheap for V8, not worth keeping). */
  minPooledSize?: number;
  /** Free buffers are let go when nothing was taken for this long. */
  idleMs?: number;
}

interface FreeBuffer {
  buf: Buffer;
  /** Its charge to the account, when there is one. */
  charge?: { release(): void };
}

export class BodyPool {
  /** Free buffers, oldest first. */
  private free: FreeBuffer[] = [];
  private account: MemoryAccount | undefined;
  private unregister: (() => void) | undefined;
  /** Buffers handed out by take() and not given back: give() accepts only these, once each. */
  private readonly out = new WeakSet<Buffer>();
  private freeBytes = 0;
  private maxFreeBytes: number;
  private readonly minPooledSize: number;
  private readonly idleMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private takenSinceSweep = false;

  constructor(options: BodyPoolOptions) {
    this.maxFreeBytes = options.maxFreeBytes;
    this.minPooledSize = options.minPooledSize ?? 256 * 1024;
    this.idleMs = options.idleMs ?? 10_000;
  }

  /** A buffer of exactly `length` bytes, contents undefined. */
  take(length: number): Buffer {
    if (length < this.minPooledSize) return Buffer.allocUnsafe(length);
    this.takenSinceSweep = true;
    let buf: Buffer | undefined;
    for (let i = this.free.length - 1; i >= 0; i--) {
      const entry = this.free[i]!;
      if (entry.buf.length !== length) continue;
      buf = entry.buf;
      // The taker holds its own reservation for the body (a GET's chunk reserves before it starts).
      this.drop(i);
      break;
    }
    buf ??= Buffer.allocUnsafeSlow(length);
    this.out.add(buf);
    return buf;
  }

  /** Returns a buffer take() gave out; anything else (a view, a foreign or repeated buffer) is ignored. */
  give(buf: Buffer): void {
    if (!this.out.delete(buf) || buf.length > this.maxFreeBytes) return;
    while (this.free.length > 0 && this.freeBytes + buf.length > this.maxFreeBytes) this.drop(0);
    let charge: { release(): void } | undefined;
    if (this.account) {
      charge = this.account.tryReserve(buf.length);
      if (!charge) return; // the budget has no room for it: the GC takes it
    }
    this.free.push(charge ? { buf, charge } : { buf });
    this.freeBytes += buf.length;
    this.armIdleTimer();
  }

  /**
   * Charges free buffers to `account` from now on, and lets its reclaim drop them (oldest first); up
   * to `maxFreeBytes` (default: as constructed) of them are kept. Buffers already free are dropped
   * rather than charged late.
   */
  holdIn(account: MemoryAccount, maxFreeBytes = this.maxFreeBytes): void {
    this.clear();
    this.unregister?.();
    this.maxFreeBytes = maxFreeBytes;
    this.account = account;
    this.unregister = account.addReclaimer((bytes) => this.trim(bytes));
  }

  /** Drops free buffers, oldest first, until `bytes` are let go or none is left. */
  private trim(bytes: number): void {
    let freed = 0;
    while (freed < bytes && this.free.length > 0) {
      freed += this.free[0]!.buf.length;
      this.drop(0);
    }
  }

  /** Bytes of free buffers held. */
  get heldBytes(): number {
    return this.freeBytes;
  }

  /** Lets go of every free buffer. */
  clear(): void {
    while (this.free.length > 0) this.drop(this.free.length - 1);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private drop(index: number): void {
    const [entry] = this.free.splice(index, 1);
    this.freeBytes -= entry!.buf.length;
    entry!.charge?.release();
  }

  private armIdleTimer(): void {
    if (this.idleTimer) return;
    this.takenSinceSweep = false;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (!this.takenSinceSweep) this.clear();
      else if (this.free.length > 0) this.armIdleTimer();
    }, this.idleMs);
    this.idleTimer.unref();
  }
}
