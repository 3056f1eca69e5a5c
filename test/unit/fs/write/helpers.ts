// Shared pieces for the write-path tests: temporary staging directories, a WritePath over an
// in-memory bucket with small parts, a manual clock, and bounded waiting.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { Clock, TimerHandle } from '../../../../src/fs/write/clock.js';
import { WritePath, type WritePathOptions } from '../../../../src/fs/write/write-path.js';
import { MemoryObjectStore } from '../../../../src/s3/memory-store.js';
import type { ObjectStore } from '../../../../src/s3/object-store.js';

export const KiB = 1024;

/** Per test: things to close before its temporary directories go. */
const closers = new WeakMap<TestContext, Array<() => Promise<void>>>();

function closersOf(t: TestContext): Array<() => Promise<void>> {
  let list = closers.get(t);
  if (!list) {
    const fresh: Array<() => Promise<void>> = [];
    closers.set(t, fresh);
    t.after(async () => {
      for (const close of fresh.splice(0)) await close();
    });
    list = fresh;
  }
  return list;
}

/** A fresh directory removed when the test ends (after every WritePath of the test is shut down). */
export async function tempDir(t: TestContext, tag = 'write'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `s3nfs-${tag}-`));
  closersOf(t).push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A bucket whose parts may be small, so multipart paths run with kilobytes. */
export function memoryStore(minPartSize = 1): MemoryObjectStore {
  return new MemoryObjectStore({ minPartSize, pageSize: 7 });
}

/**
 * A WritePath on `dir` that never publishes by itself (the tests flush), with 16 KiB parts.
 * Shut down (and its files closed) when the test ends, unless the test already did.
 */
export async function openWritePath(
  t: TestContext,
  dir: string,
  store: ObjectStore,
  options: Partial<WritePathOptions> = {},
): Promise<WritePath> {
  const wp = await WritePath.open({
    store,
    stagingDir: dir,
    partSize: 16 * KiB,
    publishDelayMs: 3_600_000,
    retainPublishedMs: 0,
    retryBaseMs: 5,
    retryMaxMs: 20,
    ...options,
  });
  closersOf(t).unshift(() => wp.shutdown(1000).then(() => undefined, () => undefined));
  return wp;
}

export function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Deterministic pseudo-random bytes. */
export function pattern(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Polls `cond` until it holds; fails after `timeoutMs` (a bound, not a timing assertion). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets pending promise callbacks and I/O completions run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** A clock that moves only when told. */
export class ManualClock implements Clock {
  private time: number;
  private timers: Array<{ at: number; seq: number; fn: () => void; cancelled: boolean }> = [];
  private seq = 0;

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Pending timers' due times, soonest first. */
  pending(): number[] {
    return this.timers
      .filter((t) => !t.cancelled)
      .map((t) => t.at)
      .sort((a, b) => a - b);
  }

  /** Moves time forward, firing due timers in order (and letting their async work settle). */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => !t.cancelled && t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.time = Math.max(this.time, due.at);
      due.cancelled = true;
      due.fn();
      await settle();
    }
    this.time = target;
    this.timers = this.timers.filter((t) => !t.cancelled);
    await settle();
  }
}
