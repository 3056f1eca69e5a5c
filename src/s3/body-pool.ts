// Reuses the buffers GetObject bodies are received into. Every fresh multi-MiB buffer is external memory
// to V8, and allocating them at S3 speed makes V8 run a full GC every few dozen MiB; handing the same
// buffers round again costs nothing. A buffer comes back only through give(), once its holder is sure
// nothing still reads it (replies already written to their sockets); one never given back is simply
// garbage-collected.

export interface BodyPoolOptions {
  /** Free buffers kept at most, in bytes; past it the oldest are left to the GC. */
  maxFreeBytes: number;
  /** Smaller bodies are plain allocations (cheap for V8, not worth keeping). */
  minPooledSize?: number;
  /** Free buffers are let go when nothing was taken for this long. */
  idleMs?: number;
}

export class BodyPool {
  /** Free buffers, oldest first. */
  private free: Buffer[] = [];
  /** Buffers handed out by take() and not given back: give() accepts only these, once each. */
  private readonly out = new WeakSet<Buffer>();
  private freeBytes = 0;
  private readonly maxFreeBytes: number;
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
      if (this.free[i]!.length !== length) continue;
      buf = this.free[i]!;
      this.free.splice(i, 1);
      this.freeBytes -= length;
      break;
    }
    buf ??= Buffer.allocUnsafeSlow(length);
    this.out.add(buf);
    return buf;
  }

  /** Returns a buffer take() gave out; anything else (a view, a foreign or repeated buffer) is ignored. */
  give(buf: Buffer): void {
    if (!this.out.delete(buf) || buf.length > this.maxFreeBytes) return;
    this.free.push(buf);
    this.freeBytes += buf.length;
    while (this.freeBytes > this.maxFreeBytes) this.freeBytes -= this.free.shift()!.length;
    this.armIdleTimer();
  }

  /** Bytes of free buffers held. */
  get heldBytes(): number {
    return this.freeBytes;
  }

  /** Lets go of every free buffer. */
  clear(): void {
    this.free = [];
    this.freeBytes = 0;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
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
