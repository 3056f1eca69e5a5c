// Reuses the buffers GetObject bodies are received into. Every fresh multi-MiB buffer is external memory
// to V8, and allocating them at S3 speed makes V8 run a full GC every few dozen MiB; handing the same
// buffers round again costs nothing. A buffer comes back only through give(), once its holder is sure
// nothing still reads it (replies already written to their sockets); one never given back is simply
// garbage-collected.

export class BodyPool {
  private readonly free = new Map<number, Buffer[]>();
  /** Buffers handed out by take() and not given back: give() accepts only these, once each. */
  private readonly out = new WeakSet<Buffer>();
  private freeBytes = 0;

  /**
   * @param maxFreeBytes free buffers kept at most; more are left to the GC
   * @param minPooledSize smaller bodies are plain allocations (cheap for V8, not worth keeping)
   */
  constructor(
    private readonly maxFreeBytes: number,
    private readonly minPooledSize = 256 * 1024,
  ) {}

  /** A buffer of exactly `length` bytes, contents undefined. */
  take(length: number): Buffer {
    if (length < this.minPooledSize) return Buffer.allocUnsafe(length);
    const same = this.free.get(length);
    const buf = same?.pop() ?? Buffer.allocUnsafeSlow(length);
    if (same && same.length === 0) this.free.delete(length);
    if (same) this.freeBytes -= length;
    this.out.add(buf);
    return buf;
  }

  /** Returns a buffer take() gave out; anything else (a view, a foreign or repeated buffer) is ignored. */
  give(buf: Buffer): void {
    if (!this.out.delete(buf)) return;
    if (this.freeBytes + buf.length > this.maxFreeBytes) return;
    const same = this.free.get(buf.length);
    if (same) same.push(buf);
    else this.free.set(buf.length, [buf]);
    this.freeBytes += buf.length;
  }

  /** Bytes of free buffers held. */
  get heldBytes(): number {
    return this.freeBytes;
  }

  /** Lets go of every free buffer. */
  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
  }
}
