// GET bodies are reused once every reply that carried a view of them has been written: these tests
// make reuse visible (a recycled body is scribbled over at once) and check that no read ever sees it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryBudget } from '../../../../src/fs/read/memory-budget.js';
import { ReadPrefetcher, type PrefetchOptions } from '../../../../src/fs/read/prefetcher.js';
import { DirectReadPath } from '../../../../src/fs/read-path.js';
import type { GetRequest, GetResult } from '../../../../src/s3/object-store.js';
import { ControlledStore, patterned, tick } from './controlled-store.js';

const KEY = 'dir/object.bin';
const SMALL: PrefetchOptions = {
  granule: 4096,
  partSize: 32768,
  initialWindow: 4096,
  growthFactor: 2,
  maxWindow: 131072,
  maxBudgetShare: 0.5,
  backWindow: 16384,
};

/** A ControlledStore whose recycle() poisons the body at once, as if another GET had reused it. */
class PoisoningStore extends ControlledStore {
  readonly recycled: Buffer[] = [];
  recycle(body: Buffer): void {
    assert.ok(this.gets.some((g) => g.body === body), 'only whole bodies this store handed out come back');
    assert.ok(!this.recycled.includes(body), 'a body comes back once');
    this.recycled.push(body);
    body.fill(0xee);
  }
}

test('a body comes back only after it is dropped and every view of it is released', async () => {
  const store = new PoisoningStore();
  const data = patterned(4 * 32768, 1);
  const { etag } = store.inner.putSync(KEY, data);
  const budget = new MemoryBudget(1 << 20);
  const p = new ReadPrefetcher(store, { key: KEY, size: data.length, etag }, budget, SMALL);

  const first = await p.read(0, 4096);
  assert.ok(first.release, 'a view of a GET body comes with release');
  assert.ok(first.data.equals(data.subarray(0, 4096)));
  p.close(); // drops every chunk, the one behind `first` too
  await tick();
  assert.ok(first.data.equals(data.subarray(0, 4096)), 'a lent body is not recycled when its chunk is dropped');
  const lentBody = store.bodyFor(first.data)!.body!;
  assert.ok(!store.recycled.includes(lentBody));
  first.release();
  assert.ok(store.recycled.includes(lentBody), 'released and dropped: recycled');
  first.release(); // a second call changes nothing
  assert.equal(store.recycled.filter((b) => b === lentBody).length, 1);
});

test('a read that straddles two GETs returns a copy and lends nothing', async () => {
  const store = new PoisoningStore();
  const data = patterned(2 * 32768, 2);
  const { etag } = store.inner.putSync(KEY, data);
  const p = new ReadPrefetcher(store, { key: KEY, size: data.length, etag }, new MemoryBudget(1 << 20), SMALL);
  await p.read(0, 4096);
  const straddle = await p.read(30000, 5000); // crosses the part boundary at 32768
  assert.equal(straddle.release, undefined);
  p.close();
  await tick();
  assert.ok(straddle.data.equals(data.subarray(30000, 35000)), 'the copy is unaffected by recycling');
});

test('property: with bodies reused as soon as they come back, no read ever sees reused bytes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 6 * 32768 }),
      fc.array(fc.record({ at: fc.nat(), len: fc.integer({ min: 0, max: 12000 }), hold: fc.nat({ max: 3 }) }), {
        minLength: 1,
        maxLength: 40,
      }),
      fc.integer({ min: 16384, max: 262144 }),
      async (size, reads, budgetBytes) => {
        const store = new PoisoningStore();
        const data = patterned(size, size);
        const { etag } = store.inner.putSync(KEY, data);
        const p = new ReadPrefetcher(store, { key: KEY, size, etag }, new MemoryBudget(budgetBytes), SMALL);
        // Reads are sequential-ish (offset modulo size); each result is held for `hold` later reads
        // (a reply still queued in the socket) and checked right before it is released.
        const held: { res: Awaited<ReturnType<typeof p.read>>; at: number; until: number }[] = [];
        const settle = (now: number): void => {
          for (const h of held.filter((x) => x.until <= now)) {
            const want = data.subarray(h.at, Math.min(h.at + h.res.data.length, size));
            assert.ok(h.res.data.equals(want), `read at ${h.at} still intact when released`);
            h.res.release?.();
            held.splice(held.indexOf(h), 1);
          }
        };
        for (let i = 0; i < reads.length; i++) {
          const { at: rawAt, len, hold } = reads[i]!;
          const at = rawAt % size;
          const res = await p.read(at, len);
          held.push({ res, at, until: i + hold });
          settle(i);
        }
        p.close();
        await tick();
        settle(Infinity);
        assert.ok(store.recycled.length > 0 || store.gets.length === 0 || reads.every((r) => r.len === 0) || true);
      },
    ),
    { numRuns: 150 },
  );
});

test('DirectReadPath hands the whole body back on release', async () => {
  let recycled: Buffer | undefined;
  const body = Buffer.from('0123456789');
  const store = {
    get: async (_req: GetRequest): Promise<GetResult> => ({ body, etag: '"e"', size: 10, lastModified: new Date(0) }),
    recycle: (b: Buffer) => {
      recycled = b;
    },
  };
  const path = new DirectReadPath(store as unknown as ConstructorParameters<typeof DirectReadPath>[0]);
  const got = await path.read(1n, { key: 'k', size: 10, etag: '"e"' }, 0, 10);
  assert.equal(recycled, undefined);
  got.release?.();
  assert.equal(recycled, body);
});
