// The write path against a real S3 server (Ceph RGW from scripts/test.sh): shuffled 1 MiB WRITEs
// of a 40 MiB file assemble, stream as 8 MiB parts and publish as one object with the right bytes;
// a crash mid-file resumes the multipart upload with RGW's real part ETags.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { WritePath } from '../../../src/fs/write/write-path.js';
import { FaultInjectingObjectStore } from '../../../src/s3/faulty-store.js';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';

const endpoint = process.env.S3NFS_TEST_ENDPOINT;
const bucket = process.env.S3NFS_TEST_BUCKET;
const NO_SERVER = 'S3NFS_TEST_ENDPOINT / S3NFS_TEST_BUCKET are not set (scripts/test.sh starts a local Ceph RGW)';
const MiB = 1024 * 1024;

async function setup(t: TestContext) {
  const store = new SdkObjectStore({ bucket: bucket!, endpoint: endpoint! });
  const prefix = `write-it-${Date.now()}-${randomBytes(4).toString('hex')}/`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 's3nfs-write-it-'));
  const opened: WritePath[] = [];
  t.after(async () => {
    for (const wp of opened) await wp.shutdown(5000).catch(() => undefined);
    for (const u of await store.listMultipartUploads(prefix)) await store.abortMultipartUpload(u.key, u.uploadId);
    for (const o of (await store.list({ prefix })).objects) await store.delete(o.key);
    store.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  const open = async (s = store as SdkObjectStore | FaultInjectingObjectStore) => {
    const wp = await WritePath.open({
      store: s,
      stagingDir: dir,
      exportPrefix: prefix,
      partSize: 8 * MiB,
      publishDelayMs: 3_600_000,
      retainPublishedMs: 0,
    });
    opened.push(wp);
    return wp;
  };
  return { store, prefix, open };
}

function shuffledOffsets(size: number, chunk: number): number[] {
  const offsets: number[] = [];
  for (let off = 0; off < size; off += chunk) offsets.push(off);
  for (let i = offsets.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [offsets[i], offsets[j]] = [offsets[j]!, offsets[i]!];
  }
  return offsets;
}

/** Sends WRITEs with up to `inFlight` outstanding, as the kernel client does. */
async function writeAll(wp: WritePath, key: string, data: Buffer, offsets: number[], inFlight = 8): Promise<void> {
  const queue = [...offsets];
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let off = queue.shift(); off !== undefined; off = queue.shift()) {
        await wp.write(key, off, data.subarray(off, off + MiB), 'unstable');
      }
    }),
  );
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('40 MiB in shuffled 1 MiB WRITEs is published to RGW byte for byte', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  const { store, prefix, open } = await setup(t);
  const wp = await open();
  const key = `${prefix}big.bin`;
  const data = randomBytes(40 * MiB);
  await wp.create(key, { mode: 'unchecked' });
  await writeAll(wp, key, data, shuffledOffsets(data.length, MiB));
  await wp.commit(key);
  assert.equal(await store.head(key), undefined, 'nothing visible before publish');

  assert.deepEqual(await wp.flush(key), [{ key, outcome: 'published' }]);
  const object = await store.get({ key });
  assert.equal(object.size, data.length);
  assert.equal(sha(object.body), sha(data));
  assert.match(object.etag, /-5"?$/, 'a 5-part multipart object');
  assert.deepEqual(await store.listMultipartUploads(prefix), []);

  // And a small file is one PUT.
  const small = `${prefix}small.txt`;
  await wp.create(small, { mode: 'guarded' });
  await wp.write(small, 0, Buffer.from('hello\n'), 'file_sync');
  await wp.flush(small);
  assert.equal((await store.get({ key: small })).body.toString(), 'hello\n');
});

test('after a crash mid-file the RGW multipart upload is resumed and completed correctly', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  const { store, prefix, open } = await setup(t);
  const doomedStore = new FaultInjectingObjectStore(store);
  const a = await open(doomedStore);
  const key = `${prefix}resumed.bin`;
  const data = randomBytes(26 * MiB + 12345);
  await a.create(key, { mode: 'unchecked' });
  await writeAll(a, key, data, shuffledOffsets(data.length, MiB));
  for (let i = 0; i < 600 && (a.status().files[0]?.uploadedBytes ?? 0) < 24 * MiB; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(a.status().files[0]?.uploadedBytes, 24 * MiB, 'three full parts streamed');
  await a.commit(key);
  doomedStore.inject({ error: 'Unavailable' }); // the process "dies"

  const counted = new FaultInjectingObjectStore(store);
  const calls: string[] = [];
  counted.afterCall((call) => void calls.push(call.api));
  const b = await open(counted);
  await b.orphanCleanup;
  assert.deepEqual(await b.flush(key), [{ key, outcome: 'published' }]);
  assert.equal(calls.filter((c) => c === 'uploadPart').length, 1, 'only the last part was uploaded again');
  assert.equal(calls.filter((c) => c === 'createMultipartUpload').length, 0, 'the upload was resumed');
  const object = await store.get({ key });
  assert.equal(sha(object.body), sha(data));
  assert.deepEqual(await store.listMultipartUploads(prefix), []);
});
