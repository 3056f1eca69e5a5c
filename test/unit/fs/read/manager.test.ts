import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget } from '../../../../src/fs/read/memory-budget.js';
import { ReadPathManager, type ReadPathOptions } from '../../../../src/fs/read/manager.js';
import { isReadPathError } from '../../../../src/fs/read/errors.js';
import { ControlledStore, patterned, tick } from './controlled-store.js';

const MiB = 1024 * 1024;

function setup(options: Partial<ReadPathOptions> = {}, budgetBytes = 512 * MiB) {
  const store = new ControlledStore();
  const budget = new MemoryBudget(budgetBytes);
  let now = 1_000_000;
  const clock = {
    advance(ms: number) {
      now += ms;
    },
  };
  const manager = new ReadPathManager(store, budget, { sweepIntervalMs: 0, now: () => now, ...options });
  const put = (key: string, size: number, seed = 0) => {
    const data = patterned(size, seed);
    const { etag } = store.inner.putSync(key, data);
    return { key, size, etag, data };
  };
  return { store, budget, manager, clock, put };
}

test('reads of one file share a prefetcher; stats count reads, GETs and buffer hits', async () => {
  const { store, manager, put } = setup();
  const f = put('a', 20 * MiB);
  for (let off = 0; off < f.size; off += MiB) {
    const r = await manager.read(1n, f, off, MiB);
    assert.ok(r.data.equals(f.data.subarray(off, off + MiB)));
  }
  const s = manager.stats();
  assert.equal(s.opened, 1);
  assert.equal(s.openFiles, 1);
  assert.equal(s.reads, 20);
  assert.equal(s.bytesServed, 20 * MiB);
  assert.equal(s.getsIssued, store.gets.length);
  assert.ok(s.bufferHits + s.inflightHits > 10, 'most reads found their data fetched ahead');
  assert.equal(s.bytesFetched, 20 * MiB);
});

test('idle prefetchers are closed by the sweep and give their memory back', async () => {
  const { budget, manager, clock, put } = setup({ idleMs: 5000 });
  const a = put('a', 12 * MiB);
  const b = put('b', 12 * MiB);
  await manager.read(1n, a, 0, MiB);
  clock.advance(3000);
  await manager.read(2n, b, 0, MiB);
  await tick();
  assert.ok(budget.reserved > 0);
  clock.advance(2500);
  assert.equal(manager.sweep(), 1, 'only the file idle for 5 s is closed');
  assert.equal(manager.prefetcher(1n), undefined);
  assert.ok(manager.prefetcher(2n));
  clock.advance(5000);
  assert.equal(manager.sweep(), 1);
  await tick();
  assert.equal(budget.reserved, 0);
  const s = manager.stats();
  assert.equal(s.closed.idle, 2);
  assert.equal(s.openFiles, 0);
  assert.equal(s.reads, 2, 'stats of closed prefetchers are kept');
});

test('a read naming another ETag or size replaces the prefetcher', async () => {
  const { store, manager, put } = setup();
  const v1 = put('a', 3 * MiB, 1);
  await manager.read(1n, v1, 0, MiB);
  const first = manager.prefetcher(1n);
  const v2 = put('a', 3 * MiB, 2);
  const r = await manager.read(1n, v2, 0, MiB);
  assert.ok(r.data.equals(v2.data.subarray(0, MiB)), 'fresh data after re-open');
  assert.notEqual(manager.prefetcher(1n), first);
  assert.equal(manager.stats().closed.invalidated, 1);
  assert.ok(store.gets.every((g) => g.ifMatch === v1.etag || g.ifMatch === v2.etag));
  // Without an ETag the caller accepts whatever version is open.
  const p = manager.prefetcher(1n);
  await manager.read(1n, { key: 'a', size: 3 * MiB }, MiB, MiB);
  assert.equal(manager.prefetcher(1n), p);
});

test('Stale closes the prefetcher; the next read with the new version gets fresh data', async () => {
  const { manager, put } = setup();
  const v1 = put('a', 40 * MiB, 1);
  await manager.read(7n, v1, 0, MiB);
  const v2 = put('a', 40 * MiB, 2);
  let err: unknown;
  for (let off = MiB; off < v1.size && err === undefined; off += MiB) {
    await manager.read(7n, v1, off, MiB).then(
      (r) => assert.ok(r.data.equals(v1.data.subarray(off, off + MiB)), 'old bytes until the change is seen'),
      (e: unknown) => (err = e),
    );
  }
  assert.ok(isReadPathError(err, 'Stale'));
  assert.equal(manager.prefetcher(7n), undefined);
  assert.equal(manager.stats().closed.stale, 1);
  const r = await manager.read(7n, v2, 5 * MiB, MiB);
  assert.ok(r.data.equals(v2.data.subarray(5 * MiB, 6 * MiB)));
});

test('invalidate drops a file, and at most maxFiles prefetchers are kept (least recently used goes)', async () => {
  const { manager, put } = setup({ maxFiles: 2 });
  const files = [put('a', MiB), put('b', MiB), put('c', MiB)];
  await manager.read(1n, files[0]!, 0, 10);
  await manager.read(2n, files[1]!, 0, 10);
  await manager.read(1n, files[0]!, 10, 10); // 'a' is now more recent than 'b'
  await manager.read(3n, files[2]!, 0, 10);
  assert.ok(manager.prefetcher(1n));
  assert.equal(manager.prefetcher(2n), undefined);
  assert.ok(manager.prefetcher(3n));
  assert.equal(manager.stats().closed.evicted, 1);
  manager.invalidate(1n);
  assert.equal(manager.prefetcher(1n), undefined);
  assert.equal(manager.stats().closed.invalidated, 1);
});

test('memory pressure closes idle files first so an active reader gets read-ahead', async () => {
  const { budget, manager, clock, put } = setup({ pressureIdleMs: 500, idleMs: 60_000 }, 32 * MiB);
  const a = put('a', 64 * MiB, 1);
  const b = put('b', 64 * MiB, 2);
  // 'a' stops half-way with its read-ahead buffered.
  for (let off = 0; off < 24 * MiB; off += MiB) await manager.read(1n, a, off, MiB);
  await tick();
  const heldByA = manager.prefetcher(1n)!.bufferedBytes;
  assert.ok(heldByA >= 8 * MiB, `a holds ${heldByA}`);
  clock.advance(1000);
  for (let off = 0; off < b.size; off += MiB) {
    const r = await manager.read(2n, b, off, MiB);
    assert.ok(r.data.equals(b.data.subarray(off, off + MiB)));
  }
  assert.equal(manager.prefetcher(1n), undefined, 'the idle file was closed for memory');
  assert.equal(manager.stats().closed.pressure, 1);
  assert.ok(manager.prefetcher(2n)!.windowBytes >= 8 * MiB, 'the active reader kept a real window');
  assert.ok(budget.stats().peakReserved <= budget.limit + 2 * MiB);
});

test('close() shuts every prefetcher and leaves the budget', async () => {
  const { budget, manager, put } = setup({ sweepIntervalMs: 1000 });
  const a = put('a', 10 * MiB);
  await manager.read(1n, a, 0, MiB);
  manager.close();
  await tick();
  assert.equal(budget.reserved, 0);
  assert.equal(manager.stats().closed.shutdown, 1);
});
