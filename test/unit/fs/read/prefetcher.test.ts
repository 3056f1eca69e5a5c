import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryBudget } from '../../../../src/fs/read/memory-budget.js';
import { ReadPrefetcher, type PrefetchOptions, type ReadResult } from '../../../../src/fs/read/prefetcher.js';
import { isReadPathError } from '../../../../src/fs/read/errors.js';
import { ObjectStoreError } from '../../../../src/s3/object-store.js';
import { ControlledStore, patterned, tick } from './controlled-store.js';

const MiB = 1024 * 1024;
const KEY = 'dir/object.bin';

// The same geometry as the defaults, scaled down 256× so property runs stay fast.
const SMALL: PrefetchOptions = {
  granule: 4096,
  partSize: 32768,
  initialWindow: 4096,
  growthFactor: 8,
  maxWindow: 262144,
  maxBudgetShare: 0.5,
  backWindow: 16384,
};

function setup(size: number, seed = 0): { store: ControlledStore; data: Buffer; etag: string } {
  const store = new ControlledStore();
  const data = patterned(size, seed);
  const { etag } = store.inner.putSync(KEY, data);
  return { store, data, etag };
}

function expectRead(res: ReadResult, data: Buffer, offset: number, count: number, what = ''): void {
  const end = Math.min(offset + count, data.length);
  const want = offset >= data.length ? Buffer.alloc(0) : data.subarray(offset, end);
  assert.equal(res.data.length, want.length, `length of read ${offset}+${count} ${what}`);
  assert.ok(res.data.equals(want), `bytes of read ${offset}+${count} ${what}`);
  assert.equal(res.eof, offset + res.data.length >= data.length, `eof of read ${offset}+${count} ${what}`);
}

/** Waits for every promise, answering pending GETs one at a time in an order `pick` chooses. */
async function drive<T>(store: ControlledStore, promises: Promise<T>[], pick: () => number): Promise<T[]> {
  let settled = 0;
  const guarded = promises.map((p) => p.finally(() => settled++));
  for (let spins = 0; settled < promises.length; spins++) {
    assert.ok(spins < 100_000, 'reads never finished');
    if (store.pendingCount > 0) store.releaseAt(pick() % store.pendingCount);
    await tick();
  }
  return Promise.all(guarded);
}

function checkGetShape(store: ControlledStore, size: number, o: PrefetchOptions, etag: string | undefined): void {
  for (const g of store.gets) {
    assert.ok(g.start < g.end && g.end <= size, `GET [${g.start}, ${g.end}) inside the object of ${size}`);
    assert.equal(g.start % o.granule, 0, 'GETs start on a granule');
    assert.ok(g.end % o.granule === 0 || g.end === size, 'GETs end on a granule or at EOF');
    const [firstPart, lastPart] = [Math.floor(g.start / o.partSize), Math.floor((g.end - 1) / o.partSize)];
    assert.equal(firstPart, lastPart, 'no GET crosses a part boundary');
    if (etag !== undefined) assert.equal(g.ifMatch, etag, 'every GET carries If-Match');
  }
}

test('sequential 1 MiB reads return the exact bytes and the window grows to whole 8 MiB parts', async () => {
  const size = 100 * MiB + 12345;
  const { store, data, etag } = setup(size);
  const budget = new MemoryBudget(512 * MiB);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, budget);
  const reads = Math.ceil(size / MiB);
  const windows: number[] = [];
  for (let i = 0; i < reads; i++) {
    expectRead(await p.read(i * MiB, MiB), data, i * MiB, MiB);
    if (windows.at(-1) !== p.windowBytes / MiB) windows.push(p.windowBytes / MiB);
  }
  const last = await p.read(size, MiB);
  assert.equal(last.data.length, 0);
  assert.equal(last.eof, true);

  checkGetShape(store, size, { ...p['opts'] }, etag);
  const sizes = store.gets.map((g) => g.end - g.start);
  assert.ok(sizes[0]! <= 2 * MiB, `the first GET is small (${sizes[0]})`);
  assert.ok(sizes.slice(-4, -1).every((s) => s === 8 * MiB), `later GETs are whole parts: ${sizes.slice(-6)}`);
  assert.deepEqual(windows, [1, 8, 64, 128], 'the window grows eightfold (MiB), up to the cap');
  assert.equal(p.stats.windowGrowths, 3);
  assert.ok(store.gets.length < 30, `${store.gets.length} GETs for ${reads} reads`);
  assert.equal(p.stats.bytesFetched, size, 'every byte fetched once');
  p.close();
  await tick();
  assert.equal(budget.reserved, 0);
});

test('out-of-order concurrent 1 MiB reads (as the kernel sends them) are served from the same GETs', async () => {
  const size = 48 * MiB;
  const { store, data, etag } = setup(size);
  store.manual = true;
  const budget = new MemoryBudget(512 * MiB);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, budget);
  let seed = 7;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648);
  // Batches of 8 reads, each with neighbours swapped here and there, issued before earlier GETs are answered.
  const all: Promise<void>[] = [];
  for (let batch = 0; batch < size / MiB / 8; batch++) {
    const offsets = Array.from({ length: 8 }, (_, i) => (batch * 8 + i) * MiB);
    for (let i = 0; i + 1 < offsets.length; i++) {
      if (rand() % 3 === 0) [offsets[i], offsets[i + 1]] = [offsets[i + 1]!, offsets[i]!];
    }
    for (const off of offsets) all.push(p.read(off, MiB).then((r) => expectRead(r, data, off, MiB)));
    if (store.pendingCount > 0) store.releaseAt(rand() % store.pendingCount);
    await tick();
  }
  await drive(store, all, rand);
  assert.equal(p.stats.seeks, 0, 'reordering is not taken for a seek');
  assert.equal(p.stats.bytesFetched, size, 'nothing fetched twice');
  checkGetShape(store, size, p['opts'], etag);
  p.close();
});

test('replies are views of the GET bodies, not copies', async () => {
  const size = 20 * MiB;
  const { store, data, etag } = setup(size);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, new MemoryBudget(512 * MiB));
  for (let off = 0; off < size; off += MiB) {
    const r = await p.read(off, MiB);
    expectRead(r, data, off, MiB);
    const g = store.bodyFor(r.data);
    assert.ok(g, `read at ${off} shares memory with a GET body`);
    assert.equal(r.data.byteOffset - g.body!.byteOffset, off - g.start);
  }
  // Smaller, unaligned reads inside one GET are views too.
  const r = await p.read(3 * MiB + 100, 5000);
  expectRead(r, data, 3 * MiB + 100, 5000);
  assert.equal(p.stats.straddles, 0);
});

test('a read that straddles two GETs is joined correctly', async () => {
  const size = 32 * MiB;
  const { store, data, etag } = setup(size);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, new MemoryBudget(512 * MiB));
  expectRead(await p.read(0, MiB), data, 0, MiB);
  const r = await p.read(8 * MiB - 1000, 3000);
  expectRead(r, data, 8 * MiB - 1000, 3000);
  assert.equal(p.stats.straddles, 1);
});

test('small backward and forward jumps are served from buffered data', async () => {
  const size = 64 * MiB;
  const { store, data, etag } = setup(size);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, new MemoryBudget(512 * MiB));
  for (let i = 0; i < 12; i++) await p.read(i * MiB, MiB);
  await tick();
  const getsBefore = store.gets.length;
  const hitsBefore = p.stats.bufferHits;
  expectRead(await p.read(10 * MiB, MiB), data, 10 * MiB, MiB); // back 2 MiB
  expectRead(await p.read(13 * MiB, MiB), data, 13 * MiB, MiB); // forward over a gap
  expectRead(await p.read(12 * MiB, MiB), data, 12 * MiB, MiB); // back into the gap
  expectRead(await p.read(11 * MiB + 4096, 4096), data, 11 * MiB + 4096, 4096); // small, unaligned
  assert.equal(p.stats.seeks, 0);
  assert.equal(p.stats.bufferHits, hitsBefore + 4, 'every jump hit the buffer');
  assert.ok(store.gets.slice(getsBefore).every((g) => g.start >= 14 * MiB), 'no GET for data already fetched');
});

/** Answers only the GETs that hold `offset` until the read settles; read-ahead stays in flight. */
async function readHoldingAhead(
  store: ControlledStore,
  p: ReadPrefetcher,
  offset: number,
  count: number,
): Promise<ReadResult> {
  let result: ReadResult | undefined;
  const r = p.read(offset, count).then((x) => (result = x));
  for (let spins = 0; result === undefined; spins++) {
    assert.ok(spins < 1000, 'read never finished');
    store.releaseWhere((g) => g.start <= offset && offset < g.end);
    await tick();
  }
  await r;
  return result;
}

test('with growthFactor 2 the window doubles, up to maxWindow', async () => {
  const size = 100 * MiB;
  const { store, data, etag } = setup(size);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, new MemoryBudget(512 * MiB), {
    growthFactor: 2,
    maxWindow: 32 * MiB,
  });
  const windows: number[] = [];
  for (let i = 0; i < size / MiB; i++) {
    expectRead(await p.read(i * MiB, MiB), data, i * MiB, MiB);
    if (windows.at(-1) !== p.windowBytes / MiB) windows.push(p.windowBytes / MiB);
  }
  assert.deepEqual(windows, [1, 2, 4, 8, 16, 32]);
  assert.throws(() => new ReadPrefetcher(store, { key: KEY, size, etag }, new MemoryBudget(MiB), { growthFactor: 1 }), /growthFactor/);
  p.close();
});

test('a far seek aborts read-ahead nobody waits for, resets the window and fetches just what it needs', async () => {
  const size = 64 * MiB;
  const { store, data, etag } = setup(size);
  store.manual = true;
  const budget = new MemoryBudget(512 * MiB);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, budget);
  for (let i = 0; i < 8; i++) expectRead(await readHoldingAhead(store, p, i * MiB, MiB), data, i * MiB, MiB);
  assert.ok(p.windowBytes >= 4 * MiB);
  const ahead = store.gets.filter((g) => g.outcome === 'pending');
  assert.ok(ahead.length > 0, 'read-ahead is in flight');

  const seekRead = p.read(50 * MiB + 5, 100);
  await tick();
  assert.equal(p.stats.seeks, 1);
  assert.equal(p.windowBytes, 0);
  assert.ok(ahead.every((g) => g.outcome === 'aborted'), 'in-flight read-ahead was aborted');
  assert.deepEqual(
    store.gets.filter((g) => g.outcome === 'pending').map((g) => [g.start, g.end]),
    [[50 * MiB, 51 * MiB]],
    'random access fetches just the granule it needs',
  );
  store.releaseAll();
  expectRead(await seekRead, data, 50 * MiB + 5, 100);
  assert.equal(budget.reserved, MiB, 'only the granule just read is held');

  // A read continuing from there starts a new stream.
  store.manual = false;
  expectRead(await p.read(50 * MiB + 105, MiB), data, 50 * MiB + 105, MiB);
  assert.ok(p.windowBytes > 0);
  assert.equal(p.stats.seeks, 1);
});

test('reads at or past EOF, zero-length reads and empty objects', async () => {
  const { store, data, etag } = setup(5000);
  const budget = new MemoryBudget(MiB);
  const p = new ReadPrefetcher(store, { key: KEY, size: 5000, etag }, budget, SMALL);
  expectRead(await p.read(4000, 4096), data, 4000, 4096);
  expectRead(await p.read(5000, 10), data, 5000, 10);
  expectRead(await p.read(9999, 10), data, 9999, 10);
  const zero = await p.read(10, 0);
  assert.deepEqual([zero.data.length, zero.eof], [0, false]);
  store.inner.putSync('empty', '');
  const e = new ReadPrefetcher(store, { key: 'empty', size: 0 }, budget, SMALL);
  const r = await e.read(0, 4096);
  assert.deepEqual([r.data.length, r.eof], [0, true]);
  assert.ok(store.gets.every((g) => g.key !== 'empty'), 'an empty object needs no GET');
});

test('every GET carries If-Match; without an ETag the first GET goes alone and decides the version', async () => {
  const size = 300_000;
  const { store, data, etag } = setup(size);
  store.manual = true;
  const p = new ReadPrefetcher(store, { key: KEY, size }, new MemoryBudget(MiB), SMALL);
  const reads = [0, 4096, 8192, 12288, 100_000].map((off) =>
    p.read(off, 4096).then((r) => expectRead(r, data, off, 4096)),
  );
  await tick();
  assert.equal(store.pendingCount, 1, 'only the unconditional GET is in flight');
  assert.equal(store.gets[0]!.ifMatch, undefined);
  store.releaseAt(0);
  await drive(store, reads, () => 0);
  assert.equal(p.etag, etag);
  assert.ok(store.gets.length > 1);
  assert.ok(
    store.gets.slice(1).every((g) => g.ifMatch === etag),
    'later GETs are conditional on the ETag the first one found',
  );
});

test('an object changed before the first GET without a known ETag but with another size is stale', async () => {
  const { store } = setup(10_000);
  const p = new ReadPrefetcher(store, { key: KEY, size: 12_000 }, new MemoryBudget(MiB), SMALL);
  await assert.rejects(p.read(0, 4096), (err) => isReadPathError(err, 'Stale'));
});

test('an object changed mid-read gives Stale, never bytes of the new version', async () => {
  const size = 40 * MiB;
  const { store, data, etag } = setup(size, 1);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, new MemoryBudget(512 * MiB));
  for (let i = 0; i < 6; i++) expectRead(await p.read(i * MiB, MiB), data, i * MiB, MiB);
  store.inner.putSync(KEY, patterned(size, 2)); // same size, new bytes, new ETag
  let staleAt = -1;
  for (let i = 6; i < 40; i++) {
    try {
      expectRead(await p.read(i * MiB, MiB), data, i * MiB, MiB, '(old version from the buffer)');
    } catch (err) {
      assert.ok(isReadPathError(err, 'Stale'), `stale, not ${String(err)}`);
      staleAt = i;
      break;
    }
  }
  assert.ok(staleAt > 0, 'the change was noticed');
  await assert.rejects(p.read(0, MiB), (err) => isReadPathError(err, 'Stale'), 'stays stale, even for buffered data');
  assert.equal(p.stats.staleErrors, 1);
});

test('a deleted object gives Stale; other store errors pass through and later reads retry', async () => {
  const { store, data, etag } = setup(100_000);
  const p = new ReadPrefetcher(store, { key: KEY, size: 100_000, etag }, new MemoryBudget(MiB), SMALL);
  const real = store.inner.get.bind(store.inner);
  let failNext = true;
  store.inner.get = async (req) => {
    if (failNext) {
      failNext = false;
      throw new ObjectStoreError('Unavailable', 'connection reset');
    }
    return real(req);
  };
  await assert.rejects(p.read(50_000, 100), (err) => err instanceof ObjectStoreError && err.kind === 'Unavailable');
  expectRead(await p.read(50_000, 100), data, 50_000, 100);
  store.inner.deleteSync(KEY);
  await assert.rejects(p.read(90_000, 100), (err) => isReadPathError(err, 'Stale'));
});

test('a closed prefetcher refuses reads and gives its memory back', async () => {
  const size = 4 * MiB;
  const { store, etag } = setup(size);
  store.manual = true;
  const budget = new MemoryBudget(64 * MiB);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, budget);
  const inFlight = p.read(0, MiB);
  await tick();
  assert.ok(budget.reserved > 0);
  p.close();
  store.releaseAll();
  await inFlight; // a read in progress still completes
  await tick();
  assert.equal(budget.reserved, 0);
  await assert.rejects(p.read(0, 10), (err) => isReadPathError(err, 'Closed'));
});

test('under memory pressure the window shrinks and reads still make progress', async () => {
  const size = 60 * MiB;
  const { store, data, etag } = setup(size);
  store.inner.putSync('other', patterned(size, 3));
  const otherEtag = store.inner.infoSync('other')!.etag;
  const budget = new MemoryBudget(24 * MiB);
  const a = new ReadPrefetcher(store, { key: KEY, size, etag }, budget, { maxBudgetShare: 1 });
  const b = new ReadPrefetcher(store, { key: 'other', size, etag: otherEtag }, budget, { maxBudgetShare: 1 });
  const other = patterned(size, 3);
  const slack = 2 * (2 * MiB); // two reads in flight, each may overcommit two granules
  for (let off = 0; off < size; off += MiB) {
    const [ra, rb] = await Promise.all([a.read(off, MiB), b.read(off, MiB)]);
    expectRead(ra, data, off, MiB);
    expectRead(rb, other, off, MiB);
    assert.ok(budget.reserved <= budget.limit + slack, `reserved ${budget.reserved}`);
  }
  assert.ok(budget.stats().peakReserved <= budget.limit + slack);
  assert.ok(a.stats.windowShrinks + b.stats.windowShrinks > 0, 'windows shrank');
});

test('a budget smaller than one read still serves every read', async () => {
  const size = 2 * MiB;
  const { store, data, etag } = setup(size);
  const budget = new MemoryBudget(100_000);
  const p = new ReadPrefetcher(store, { key: KEY, size, etag }, budget);
  for (let off = 0; off < size; off += MiB) expectRead(await p.read(off, MiB), data, off, MiB);
  assert.ok(p.stats.overcommits > 0);
  assert.equal(budget.reserved, 0, 'overcommitted chunks are dropped once read');
});

interface ReadOp {
  offset: number;
  count: number;
}

/**
 * Read patterns: sequential runs (locally shuffled, as the kernel's readahead does), jumps,
 * seeks, random reads, reads past EOF.
 */
function readPattern(size: number, o: PrefetchOptions): fc.Arbitrary<ReadOp[]> {
  const g = o.granule;
  const run = fc.record({
    kind: fc.constant('run' as const),
    reads: fc.integer({ min: 1, max: 40 }),
    count: fc.constantFrom(g, g, g / 2, g * 2),
  });
  const jump = fc.record({ kind: fc.constant('jump' as const), delta: fc.integer({ min: -6 * g, max: 6 * g }) });
  const seek = fc.record({ kind: fc.constant('seek' as const), to: fc.integer({ min: 0, max: size + 3 * g }) });
  const random = fc.record({
    kind: fc.constant('random' as const),
    offset: fc.integer({ min: 0, max: size + g }),
    count: fc.integer({ min: 0, max: 3 * g }),
  });
  const step = fc.oneof(
    { weight: 5, arbitrary: run },
    { weight: 2, arbitrary: jump },
    { weight: 1, arbitrary: seek },
    { weight: 2, arbitrary: random },
  );
  const steps = fc.array(step, { minLength: 1, maxLength: 12 });
  const swaps = fc.array(fc.nat(), { minLength: 8, maxLength: 8 });
  return fc.tuple(steps, swaps).map(([steps, swaps]) => {
    const ops: ReadOp[] = [];
    let pos = 0;
    for (const s of steps) {
      if (s.kind === 'run') {
        const run: ReadOp[] = [];
        for (let i = 0; i < s.reads; i++, pos += s.count) run.push({ offset: pos, count: s.count });
        // Local reordering: swap neighbours at a few places.
        for (const w of swaps) {
          const i = w % run.length;
          if (i + 1 < run.length) [run[i], run[i + 1]] = [run[i + 1]!, run[i]!];
        }
        ops.push(...run);
      } else if (s.kind === 'jump') {
        pos = Math.max(0, pos + s.delta);
      } else if (s.kind === 'seek') {
        pos = s.to;
      } else {
        ops.push({ offset: s.offset, count: s.count });
      }
    }
    return ops;
  });
}

test('property: any read pattern, concurrency and GET order gives exact bytes within the budget', async () => {
  const o = SMALL;
  const scenario = fc
    .record({
      size: fc.oneof(fc.integer({ min: 0, max: 3 * o.granule }), fc.integer({ min: 0, max: 600_000 })),
      concurrency: fc.integer({ min: 1, max: 8 }),
      budget: fc.integer({ min: 4 * o.granule, max: 1_000_000 }),
      knownEtag: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    })
    .chain((s) => fc.record({ s: fc.constant(s), ops: readPattern(s.size, o) }));

  await fc.assert(
    fc.asyncProperty(scenario, async ({ s, ops }) => {
      const { store, data, etag } = setup(s.size, s.seed % 7);
      store.manual = true;
      const budget = new MemoryBudget(s.budget);
      const p = new ReadPrefetcher(store, { key: KEY, size: s.size, ...(s.knownEtag ? { etag } : {}) }, budget, o);
      let r = s.seed;
      const rand = (): number => (r = (r * 48271) % 2147483647);
      const maxCount = Math.max(0, ...ops.map((op) => op.count));
      const slack = s.concurrency * (maxCount + 2 * o.granule);

      // Keep `concurrency` reads outstanding, answering GETs in random order in between.
      const outstanding = new Set<Promise<void>>();
      let next = 0;
      for (let spins = 0; next < ops.length || outstanding.size > 0; spins++) {
        assert.ok(spins < 200_000, 'reads never finished');
        while (next < ops.length && outstanding.size < s.concurrency) {
          const op = ops[next++]!;
          const done: Promise<void> = p.read(op.offset, op.count).then((res) => {
            expectRead(res, data, op.offset, op.count);
            outstanding.delete(done);
          });
          outstanding.add(done);
        }
        if (store.pendingCount > 0 && rand() % 4 !== 0) store.releaseAt(rand() % store.pendingCount);
        assert.ok(budget.reserved <= budget.limit + slack, `reserved ${budget.reserved} > ${budget.limit} + ${slack}`);
        await tick();
      }
      assert.ok(budget.stats().peakReserved <= budget.limit + slack);
      checkGetShape(store, s.size, o, s.knownEtag ? etag : undefined);
      if (!s.knownEtag && store.gets.length > 0) {
        assert.equal(store.gets[0]!.ifMatch, undefined);
        assert.ok(store.gets.slice(1).every((g) => g.ifMatch === etag));
      }
      p.close();
      store.releaseAll();
      for (let i = 0; i < 5; i++) await tick();
      assert.equal(budget.reserved, 0, 'every reservation returned after close');
    }),
    { numRuns: 150 },
  );
});

test('property: a version change at any moment gives old bytes or Stale, never new bytes', async () => {
  const o = SMALL;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 400_000 }),
      fc.integer({ min: 0, max: 200 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 1 << 30 }),
      async (size, changeAfterSpins, concurrency, seed) => {
        const { store, data, etag } = setup(size, 1);
        store.manual = true;
        const p = new ReadPrefetcher(store, { key: KEY, size, etag }, new MemoryBudget(1 << 20), o);
        let r = seed;
        const rand = (): number => (r = (r * 48271) % 2147483647);
        const offsets: number[] = [];
        for (let off = 0; off < size; off += o.granule) offsets.push(off);
        let next = 0;
        const outstanding = new Set<Promise<void>>();
        for (let spins = 0; next < offsets.length || outstanding.size > 0; spins++) {
          assert.ok(spins < 100_000);
          if (spins === changeAfterSpins) store.inner.putSync(KEY, patterned(size, 2));
          while (next < offsets.length && outstanding.size < concurrency) {
            const off = offsets[next++]!;
            const done: Promise<void> = p.read(off, o.granule).then(
              (res) => {
                expectRead(res, data, off, o.granule, '(old version)');
                outstanding.delete(done);
              },
              (err: unknown) => {
                assert.ok(isReadPathError(err, 'Stale'), String(err));
                outstanding.delete(done);
              },
            );
            outstanding.add(done);
          }
          if (store.pendingCount > 0) store.releaseAt(rand() % store.pendingCount);
          await tick();
        }
      },
    ),
    { numRuns: 100 },
  );
});
