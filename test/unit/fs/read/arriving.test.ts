// Reads served from a GET body while it is still arriving (ObjectStore's onArriving): a read waits only
// for its own bytes, never sees bytes that have not arrived, and survives a body that fails mid-way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget } from '../../../../src/fs/read/memory-budget.js';
import { ReadPrefetcher, type PrefetchOptions } from '../../../../src/fs/read/prefetcher.js';
import type { ArrivingBody, GetRequest, GetResult, ObjectStore } from '../../../../src/s3/object-store.js';
import { ObjectStoreError } from '../../../../src/s3/object-store.js';
import { patterned, tick } from './controlled-store.js';

const KEY = 'big.bin';
const ETAG = '"v1"';
const SMALL: PrefetchOptions = {
  granule: 4096,
  partSize: 32768,
  initialWindow: 32768,
  growthFactor: 8,
  maxWindow: 65536,
  maxBudgetShare: 0.5,
  backWindow: 16384,
};

/** One GET in progress: the test decides how many bytes have arrived, and whether it fails. */
class TrickledGet {
  buffer: Buffer;
  filled = 0;
  arrivals = 0;
  private waiters: { n: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private settle!: { resolve: (r: GetResult) => void; reject: (e: unknown) => void };
  readonly result: Promise<GetResult>;

  constructor(
    readonly req: GetRequest,
    private readonly data: Buffer,
  ) {
    this.buffer = Buffer.alloc(req.range!.end - req.range!.start, 0xee); // 0xee: not arrived
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.offer();
  }

  /** Hands the caller a (new) arriving body, as a store does after the response headers. */
  offer(): void {
    this.arrivals++;
    const body: ArrivingBody = {
      data: this.buffer,
      etag: ETAG,
      received: () => this.filled,
      whenReceived: (n) =>
        this.filled >= n ? Promise.resolve() : new Promise((resolve, reject) => this.waiters.push({ n, resolve, reject })),
    };
    this.req.onArriving?.(body);
  }

  /** `bytes` more arrive (all the rest by default); the GET completes when the body is whole. */
  feed(bytes = Infinity): void {
    const start = this.req.range!.start;
    const to = Math.min(this.buffer.length, this.filled + bytes);
    this.data.copy(this.buffer, this.filled, start + this.filled, start + to);
    this.filled = to;
    for (const w of this.waiters.filter((w) => w.n <= to)) w.resolve();
    this.waiters = this.waiters.filter((w) => w.n > to);
    if (to === this.buffer.length) this.settle.resolve({ body: this.buffer, etag: ETAG, size: this.data.length, lastModified: new Date(0) });
  }

  /** The connection breaks: waiting readers are told; then the store either retries or gives up. */
  break(then: 'retry' | 'give-up'): void {
    const err = new Error('connection reset');
    for (const w of this.waiters.splice(0)) w.reject(err);
    if (then === 'give-up') {
      this.settle.reject(new ObjectStoreError('Unavailable', 'GET failed: connection reset'));
      return;
    }
    this.buffer = Buffer.alloc(this.buffer.length, 0xee); // a retry receives into a new buffer
    this.filled = 0;
    this.offer();
  }
}

class TricklingStore {
  readonly data: Buffer;
  readonly gets: TrickledGet[] = [];
  readonly recycled: Buffer[] = [];
  constructor(size: number) {
    this.data = patterned(size, 3);
  }
  get(req: GetRequest): Promise<GetResult> {
    const g = new TrickledGet(req, this.data);
    this.gets.push(g);
    return g.result;
  }
  recycle(body: Buffer): void {
    this.recycled.push(body);
    body.fill(0xdd);
  }
  asStore(): ObjectStore {
    return this as unknown as ObjectStore;
  }
}

function prefetcher(store: TricklingStore, opened: { etag?: string } = { etag: ETAG }): ReadPrefetcher {
  return new ReadPrefetcher(store.asStore(), { key: KEY, size: store.data.length, ...opened }, new MemoryBudget(1 << 20), SMALL);
}

async function settled<T>(p: Promise<T>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await tick();
  return done;
}

test('a read is answered once its own bytes arrived, before the rest of the GET', async () => {
  const store = new TricklingStore(4 * 32768);
  const p = prefetcher(store);
  const read = p.read(0, 4096);
  await tick();
  const first = store.gets[0]!;
  assert.ok(first.req.onArriving, 'a GET pinned with If-Match offers its body as it arrives');
  assert.equal(await settled(read), false, 'nothing arrived yet');
  first.feed(3000);
  assert.equal(await settled(read), false, '3000 of the 4096 bytes are not enough');
  first.feed(1096);
  const got = await read;
  assert.ok(got.data.equals(store.data.subarray(0, 4096)));
  assert.ok(first.filled < first.buffer.length, 'the GET is still going');
  const later = p.read(4096, 8192);
  assert.equal(await settled(later), false);
  first.feed();
  assert.ok((await later).data.equals(store.data.subarray(4096, 12288)));
});

test('a body that breaks mid-way and comes again from a retry: reads wait, then see only the right bytes', async () => {
  const store = new TricklingStore(2 * 32768);
  const p = prefetcher(store);
  const read = p.read(8192, 4096);
  await tick();
  const g = store.gets[0]!;
  const need = 12288 - g.req.range!.start; // the read-ahead GET starts where the stream did
  g.feed(need - 100);
  g.break('retry');
  assert.equal(await settled(read), false, 'the read waits for the retried GET');
  g.feed(need - 100);
  assert.equal(await settled(read), false, 'the retried body has not reached the read yet either');
  g.feed(100);
  const got = await read;
  assert.ok(got.data.equals(store.data.subarray(8192, 12288)), 'bytes of the retried body, all arrived');
  assert.equal(g.arrivals, 2);
  g.feed();
});

test('a body that breaks and a GET that gives up: the read fails with the store error', async () => {
  const store = new TricklingStore(2 * 32768);
  const p = prefetcher(store);
  const read = p.read(16384, 4096);
  await tick();
  store.gets[0]!.feed(100);
  store.gets[0]!.break('give-up');
  await assert.rejects(read, (e: unknown) => e instanceof ObjectStoreError && e.kind === 'Unavailable');
});

test('without a known ETag the first GET is not used before it completes (its version is unknown)', async () => {
  const store = new TricklingStore(32768);
  const p = prefetcher(store, {});
  const read = p.read(0, 4096);
  await tick();
  assert.equal(store.gets[0]!.req.onArriving, undefined);
  store.gets[0]!.feed();
  assert.ok((await read).data.equals(store.data.subarray(0, 4096)));
});

test('a view of an arriving body is recycled only after the GET completed, the chunk was dropped and the view released', async () => {
  const store = new TricklingStore(32768);
  const p = prefetcher(store);
  const read = p.read(0, 4096);
  await tick();
  const g = store.gets[0]!;
  g.feed(4096);
  const got = await read;
  p.close(); // drops the chunk while its GET still runs
  await tick();
  assert.deepEqual(store.recycled, []);
  got.release?.();
  assert.deepEqual(store.recycled, [], 'a body that never completed is not handed back');
  assert.ok(got.data.equals(store.data.subarray(0, 4096)), 'and the view stays intact');
});
