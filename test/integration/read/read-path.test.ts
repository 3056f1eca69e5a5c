// The read path against the configured S3 server (Ceph RGW in the test command): exact bytes for
// kernel-like concurrent reads, If-Match on every GET, and Stale when the object is overwritten
// or deleted mid-read, with the server's real 412/404 answers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { FaultInjectingObjectStore } from '../../../src/s3/faulty-store.js';
import type { StoreCall } from '../../../src/s3/store-call.js';
import { sameEtag } from '../../../src/s3/object-store.js';
import { MemoryBudget } from '../../../src/fs/read/memory-budget.js';
import { ReadPathManager } from '../../../src/fs/read/manager.js';
import { isReadPathError } from '../../../src/fs/read/errors.js';
import type { ReadResult } from '../../../src/fs/read/prefetcher.js';

const endpoint = process.env.S3NFS_TEST_ENDPOINT;
const bucket = process.env.S3NFS_TEST_BUCKET;
const NO_SERVER = 'S3NFS_TEST_ENDPOINT / S3NFS_TEST_BUCKET are not set (scripts/test.sh starts a local Ceph RGW)';
const MiB = 1024 * 1024;

interface Env {
  sdk: SdkObjectStore;
  store: FaultInjectingObjectStore;
  gets: Extract<StoreCall, { api: 'get' }>['req'][];
  manager: ReadPathManager;
  budget: MemoryBudget;
  prefix: string;
}

async function withEnv(body: (env: Env) => Promise<void>): Promise<void> {
  const sdk = new SdkObjectStore({ bucket: bucket!, endpoint: endpoint! });
  const store = new FaultInjectingObjectStore(sdk);
  const gets: Env['gets'] = [];
  store.beforeCall((call) => {
    if (call.api === 'get') gets.push(call.req);
  });
  const budget = new MemoryBudget(128 * MiB);
  const manager = new ReadPathManager(store, budget, { sweepIntervalMs: 0 });
  const prefix = `read-path-${randomUUID()}/`;
  try {
    await body({ sdk, store, gets, manager, budget, prefix });
  } finally {
    manager.close();
    const page = await sdk.list({ prefix });
    await Promise.all(page.objects.map((o) => sdk.delete(o.key)));
    sdk.destroy();
  }
}

/** Reads the whole file as the kernel does: 1 MiB READs, `concurrency` in flight, in order. */
async function readAll(
  manager: ReadPathManager,
  id: bigint,
  target: { key: string; size: number; etag?: string },
  concurrency = 8,
): Promise<Buffer> {
  const out = Buffer.alloc(target.size);
  let next = 0;
  let eofSeen = false;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next * MiB < target.size) {
        const off = next++ * MiB;
        const r: ReadResult = await manager.read(id, target, off, MiB);
        r.data.copy(out, off);
        if (r.eof) eofSeen = true;
        assert.equal(r.eof, off + r.data.length >= target.size);
      }
    }),
  );
  assert.ok(eofSeen || target.size === 0);
  return out;
}

test('concurrent 1 MiB reads return the object exactly, every GET conditional on the opened ETag', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  await withEnv(async ({ sdk, gets, manager, prefix }) => {
    const key = `${prefix}big.bin`;
    const data = randomBytes(37 * MiB + 4321);
    const { etag } = await sdk.put({ key, body: data });
    const got = await readAll(manager, 1n, { key, size: data.length, etag });
    assert.ok(got.equals(data));
    assert.ok(gets.length >= 5);
    assert.ok(gets.every((g) => g.ifMatch === etag), 'If-Match on every GET');
    const s = manager.stats();
    assert.equal(s.bytesFetched, data.length, 'each byte fetched once');
    assert.ok(s.windowGrowths > 0);
  });
});

test('without a known ETag the first GET decides the version for the rest', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  await withEnv(async ({ sdk, gets, manager, prefix }) => {
    const key = `${prefix}noetag.bin`;
    const data = randomBytes(12 * MiB);
    const { etag } = await sdk.put({ key, body: data });
    const got = await readAll(manager, 2n, { key, size: data.length });
    assert.ok(got.equals(data));
    assert.equal(gets[0]!.ifMatch, undefined);
    assert.ok(gets.slice(1).every((g) => g.ifMatch !== undefined && sameEtag(g.ifMatch, etag)));
  });
});

test('an object overwritten mid-read gives Stale (412), never new bytes; re-open reads it anew', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  await withEnv(async ({ sdk, manager, prefix }) => {
    const key = `${prefix}changing.bin`;
    const v1 = randomBytes(48 * MiB);
    const v2 = randomBytes(48 * MiB);
    const { etag } = await sdk.put({ key, body: v1 });
    const target = { key, size: v1.length, etag };
    for (let off = 0; off < 4 * MiB; off += MiB) {
      const r = await manager.read(3n, target, off, MiB);
      assert.ok(r.data.equals(v1.subarray(off, off + MiB)));
    }
    const { etag: etag2 } = await sdk.put({ key, body: v2 });
    let stale: unknown;
    for (let off = 4 * MiB; off < v1.length && stale === undefined; off += MiB) {
      await manager.read(3n, target, off, MiB).then(
        (r) => assert.ok(r.data.equals(v1.subarray(off, off + MiB)), `old bytes at ${off}`),
        (err: unknown) => (stale = err),
      );
    }
    assert.ok(isReadPathError(stale, 'Stale'), `Stale, not ${String(stale)}`);
    const fresh = await readAll(manager, 3n, { key, size: v2.length, etag: etag2 });
    assert.ok(fresh.equals(v2));
  });
});

test('an object deleted mid-read gives Stale', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  await withEnv(async ({ sdk, manager, prefix }) => {
    const key = `${prefix}deleted.bin`;
    const data = randomBytes(3 * MiB);
    const { etag } = await sdk.put({ key, body: data });
    await sdk.delete(key);
    await assert.rejects(manager.read(4n, { key, size: data.length, etag }, 2 * MiB, MiB), (err) =>
      isReadPathError(err, 'Stale'),
    );
  });
});
