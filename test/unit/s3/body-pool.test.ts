// BodyPool: which buffers come back and go out again, how many are kept, and how free ones are
// charged to a memory account (the read path's budget) and given up under its pressure.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBudget } from '../../../src/fs/read/memory-budget.js';
import { BodyPool } from '../../../src/s3/body-pool.js';

const KiB = 1024;

test('BodyPool: a given-back buffer is handed out again; views, strangers and repeats are ignored', () => {
  const pool = new BodyPool({ maxFreeBytes: 4 * 1024 * 1024, minPooledSize: 1024 });
  const a = pool.take(1 << 20);
  assert.equal(a.length, 1 << 20);
  pool.give(a.subarray(0, 10)); // a view: not the buffer handed out
  pool.give(Buffer.alloc(1 << 20)); // never handed out
  assert.equal(pool.heldBytes, 0);
  pool.give(a);
  pool.give(a); // twice: the second is ignored, or two GETs would share it
  assert.equal(pool.heldBytes, 1 << 20);
  assert.equal(pool.take(1 << 20), a, 'the same memory is reused');
  assert.notEqual(pool.take(1 << 20), a, 'and handed out only once');
  const small = pool.take(100);
  pool.give(small);
  assert.equal(pool.heldBytes, 0, 'small bodies are not kept');
});

test('BodyPool keeps at most maxFreeBytes of free buffers, dropping the oldest', () => {
  const pool = new BodyPool({ maxFreeBytes: 2 * 65536, minPooledSize: 1024 });
  const odd = pool.take(4096);
  const bufs = [pool.take(65536), pool.take(65536)];
  pool.give(odd);
  for (const b of bufs) pool.give(b);
  assert.equal(pool.heldBytes, 2 * 65536, 'the odd-sized buffer given first made room');
  assert.notEqual(pool.take(4096), odd);
  pool.clear();
  assert.equal(pool.heldBytes, 0);
});

test('BodyPool lets its free buffers go when nothing was taken for idleMs', async () => {
  const pool = new BodyPool({ maxFreeBytes: 1 << 20, minPooledSize: 1024, idleMs: 30 });
  pool.give(pool.take(4096));
  assert.equal(pool.heldBytes, 4096);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(pool.heldBytes, 0);
});

test('BodyPool.holdIn: free buffers are charged to the account while free, and only then', () => {
  const budget = new MemoryBudget(256 * KiB);
  const pool = new BodyPool({ maxFreeBytes: 1 << 20, minPooledSize: 1024 });
  pool.holdIn(budget);
  const a = pool.take(64 * KiB);
  const b = pool.take(64 * KiB);
  assert.equal(budget.reserved, 0, 'buffers handed out are the taker\'s to reserve');
  pool.give(a);
  pool.give(b);
  assert.equal(budget.reserved, 128 * KiB, 'free buffers count against the budget');
  assert.equal(pool.take(64 * KiB), b, 'the newest free buffer goes out first');
  assert.equal(budget.reserved, 64 * KiB, 'and its charge goes with it');
  pool.clear();
  assert.equal(budget.reserved, 0);
  assert.equal(pool.heldBytes, 0);
});

test('BodyPool.holdIn: a buffer the account has no room for is not kept', () => {
  const budget = new MemoryBudget(100 * KiB);
  const pool = new BodyPool({ maxFreeBytes: 1 << 20, minPooledSize: 1024 });
  pool.holdIn(budget);
  const held = budget.tryReserve(60 * KiB)!;
  const a = pool.take(64 * KiB);
  pool.give(a);
  assert.equal(pool.heldBytes, 0, 'no room: dropped');
  assert.equal(budget.reserved, 60 * KiB);
  held.release();
  const b = pool.take(64 * KiB);
  assert.notEqual(b, a);
  pool.give(b);
  assert.equal(pool.heldBytes, 64 * KiB, 'with room it is kept');
});

test('BodyPool.holdIn: the account\'s reclaim drops free buffers, oldest first, before anything else is asked', () => {
  const budget = new MemoryBudget(256 * KiB);
  const pool = new BodyPool({ maxFreeBytes: 1 << 20, minPooledSize: 1024 });
  pool.holdIn(budget);
  let laterAsked = 0;
  budget.addReclaimer(() => laterAsked++);
  const bufs = [pool.take(64 * KiB), pool.take(64 * KiB), pool.take(64 * KiB)];
  for (const b of bufs) pool.give(b);
  assert.equal(budget.available, 64 * KiB);
  budget.reclaim(50 * KiB); // one buffer is enough
  assert.equal(pool.heldBytes, 128 * KiB);
  assert.equal(budget.available, 128 * KiB);
  assert.equal(laterAsked, 0, 'the pool freed enough by itself');
  assert.equal(pool.take(64 * KiB), bufs[2], 'the oldest went; the newest is still there');
  assert.equal(pool.take(64 * KiB), bufs[1]);
});

test('BodyPool.holdIn raises the cap it was built with, and idle buffers give their charge back', async () => {
  const budget = new MemoryBudget(1 << 20);
  const pool = new BodyPool({ maxFreeBytes: 64 * KiB, minPooledSize: 1024, idleMs: 30 });
  pool.holdIn(budget, 256 * KiB);
  const bufs = [pool.take(64 * KiB), pool.take(64 * KiB), pool.take(64 * KiB)];
  for (const b of bufs) pool.give(b);
  assert.equal(pool.heldBytes, 192 * KiB);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(pool.heldBytes, 0);
  assert.equal(budget.reserved, 0);
});
