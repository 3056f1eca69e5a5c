// Writing through the FileSystem of an export (openExport) against a real S3 server (Ceph RGW in the
// test command), under a unique prefix: a large file in 1 MiB UNSTABLE writes with COMMITs midway
// (multipart, parts streamed while writing), a small FILE_SYNC file (one PutObject), an overwrite,
// a file in a directory made with MKDIR, and REMOVE. Published files are read back through the
// prefetching read path, which pins every GET to the ETag the publish reported.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { openExport } from '../../../src/fs/export.js';
import { lookupPath, writeFile } from '../../unit/fs/export-helpers.js';
import { withTempDir } from '../../unit/fs/fs-helpers.js';

const endpoint = process.env.S3NFS_TEST_ENDPOINT;
const bucket = process.env.S3NFS_TEST_BUCKET;
const NO_SERVER = 'S3NFS_TEST_ENDPOINT / S3NFS_TEST_BUCKET are not set (scripts/test.sh starts a local Ceph RGW)';
const MiB = 1024 * 1024;

function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

test('write, publish, read back, overwrite, mkdir and remove through an export on a real S3 server', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `fs-writes-${randomBytes(6).toString('hex')}/`;
  try {
    await withTempDir(async (stateDir) => {
      const exp = await openExport({
        store,
        bucket,
        prefix,
        stateDir,
        allowDelete: true,
        allowOverwrite: true,
        publishDelayMs: 3_600_000,
        writePartSize: 5 * MiB,
        readPartSize: 8 * MiB,
        memoryTargetBytes: 128 * MiB,
        // Published copies go at once, so reads after publish go to S3 through the read path.
        writeTuning: { retainPublishedMs: 0 },
      });
      try {
        const { fs } = exp;
        // 1. A 23 MiB file: 1 MiB UNSTABLE writes, several in flight, a COMMIT every 8 MiB.
        const big = randomBytes(23 * MiB + 12345);
        const made = await fs.create(fs.rootId, 'big.bin', { mode: 'unchecked', attributes: { mode: 0o644 } });
        for (let off = 0; off < big.length; off += 8 * MiB) {
          const writes: Promise<unknown>[] = [];
          for (let at = off; at < Math.min(big.length, off + 8 * MiB); at += MiB) {
            writes.push(fs.write(made.id, at, big.subarray(at, Math.min(big.length, at + MiB)), 'unstable'));
          }
          await Promise.all(writes);
          await fs.commit(made.id, 0, 0);
        }
        assert.equal((await fs.getattr(made.id)).size, big.length);
        assert.equal(await store.head(`${prefix}big.bin`), undefined, 'not in S3 before publish');

        // 2. A small file, one FILE_SYNC WRITE.
        await writeFile(fs, fs.rootId, 'small.txt', 'hello from s3nfs\n');
        // 3. A directory made here with a file inside.
        const dir = await fs.mkdir(fs.rootId, 'made', {});
        await writeFile(fs, dir.id, 'inner.txt', 'inside a new directory');

        const results = await exp.flush();
        assert.deepEqual(results.map((r) => r.outcome), ['published', 'published', 'published'], JSON.stringify(results));
        const head = await store.head(`${prefix}big.bin`);
        assert.equal(head?.size, big.length);
        assert.equal((await store.get({ key: `${prefix}small.txt` })).body.toString(), 'hello from s3nfs\n');
        assert.equal((await store.get({ key: `${prefix}made/inner.txt` })).body.toString(), 'inside a new directory');

        // Read back from S3 through the read path, pinned to the published ETag.
        for (let i = 0; exp.writePath!.isStaged(`${prefix}big.bin`); i++) {
          assert.ok(i < 1000, 'the published copy is dropped');
          await new Promise((r) => setTimeout(r, 10));
        }
        const chunks: Buffer[] = [];
        for (let off = 0; ; off += MiB) {
          const got = await fs.read(made.id, off, MiB);
          chunks.push(got.data);
          if (got.eof) break;
        }
        assert.equal(sha(Buffer.concat(chunks)), sha(big));
        assert.ok(exp.readPath.stats().reads >= chunks.length, 'read from S3 through the read path');

        // 4. Overwrite: truncate and rewrite the small file; S3 gets the new version on publish.
        const small = await lookupPath(fs, 'small.txt');
        await fs.setattr(small.id, { size: 0, mtime: 'server' });
        await fs.write(small.id, 0, Buffer.from('replaced'), 'file_sync');
        await exp.flush();
        assert.equal((await store.get({ key: `${prefix}small.txt` })).body.toString(), 'replaced');
        assert.equal((await fs.read(small.id, 0, 100)).data.toString(), 'replaced');

        // 5. REMOVE deletes the objects (--allow-delete); the directory goes with its last key.
        await fs.remove(dir.id, 'inner.txt');
        await fs.remove(fs.rootId, 'big.bin');
        assert.equal(await store.head(`${prefix}made/inner.txt`), undefined);
        assert.equal(await store.head(`${prefix}big.bin`), undefined);
        await assert.rejects(fs.lookup(fs.rootId, 'made'));
        assert.deepEqual(
          (await store.list({ prefix })).objects.map((o) => o.key),
          [`${prefix}small.txt`],
        );
      } finally {
        const report = await exp.shutdown({ timeoutMs: 10_000 });
        assert.deepEqual(report.remaining, []);
      }
    });
  } finally {
    const left = await store.list({ prefix }).catch(() => ({ objects: [] }));
    await Promise.allSettled(left.objects.map((o) => store.delete(o.key)));
    for (const u of await store.listMultipartUploads(prefix).catch(() => [])) {
      await store.abortMultipartUpload(u.key, u.uploadId).catch(() => undefined);
    }
    store.destroy();
  }
});
