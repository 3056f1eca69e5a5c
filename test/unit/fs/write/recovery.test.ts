// Crash recovery: a WritePath is abandoned without shutdown (its store cut off, as if the process
// died), and a new one opened on the same staging directory must publish every committed file
// completely, resume multipart uploads whose parts are still right, and abort the uploads the dead
// one abandoned — and no one else's.

import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { WritePath } from '../../../../src/fs/write/write-path.js';
import { FaultInjectingObjectStore } from '../../../../src/s3/faulty-store.js';
import type { MemoryObjectStore } from '../../../../src/s3/memory-store.js';
import { KiB, memoryStore, openWritePath, pattern, sha, tempDir, waitFor } from './helpers.js';

const P = 16 * KiB;

/** A WritePath the test will "kill": its store is cut off at crash(), and it is never shut down. */
async function doomedWritePath(dir: string, inner: MemoryObjectStore) {
  const store = new FaultInjectingObjectStore(inner);
  const wp = await WritePath.open({
    store,
    stagingDir: dir,
    partSize: P,
    publishDelayMs: 3_600_000,
    retainPublishedMs: 0,
  });
  return {
    wp,
    store,
    crash(): void {
      store.inject({ error: 'Unavailable' });
    },
  };
}

test('after a crash every committed file is published completely and uploaded parts are reused', async (t) => {
  const dir = await tempDir(t);
  const inner = memoryStore();
  const a = await doomedWritePath(dir, inner);

  // 1: a small file written FILE_SYNC (no COMMIT).
  await a.wp.create('small', { mode: 'unchecked' });
  await a.wp.write('small', 0, Buffer.from('hello\n'), 'file_sync');

  // 2: a large file in shuffled chunks, committed, parts streamed; then more bytes, uncommitted.
  const big = pattern(5 * P + 300, 11);
  await a.wp.create('big', { mode: 'unchecked' });
  const chunks: number[] = [];
  for (let off = 0; off < big.length; off += 4 * KiB) chunks.push(off);
  chunks.sort((x, y) => ((x * 7919) % 97) - ((y * 7919) % 97));
  await Promise.all(chunks.map((off) => a.wp.write('big', off, big.subarray(off, off + 4 * KiB), 'unstable')));
  await waitFor(() => a.wp.status().files.find((f) => f.key === 'big')?.uploadedBytes === 5 * P, 'parts to stream');
  await a.wp.commit('big');
  await a.wp.write('big', big.length, Buffer.from('never committed'), 'unstable');
  await a.wp.write('big', 0, Buffer.alloc(10, 0xee), 'unstable'); // an uncommitted rewrite of part 1

  // 3: created (durably) but its data never committed.
  await a.wp.create('uncommitted', { mode: 'unchecked' });
  await a.wp.write('uncommitted', 0, Buffer.from('lost?'), 'unstable');

  a.crash();
  inner.clearLog();

  const b = await openWritePath(t, dir, inner);
  await b.orphanCleanup;
  assert.notEqual(b.verifier.toString(), a.wp.verifier.toString(), 'a new verifier makes clients resend');
  assert.deepEqual(
    b.stagedFiles().map((f) => [f.key, f.size]),
    [
      ['big', big.length],
      ['small', 6],
      ['uncommitted', 0],
    ],
  );
  const results = await b.flush();
  assert.deepEqual(results.map((r) => r.outcome), ['published', 'published', 'published']);

  assert.equal(inner.getSync('small')?.toString(), 'hello\n');
  const bigObject = inner.getSync('big')!;
  // Either version of bytes 0..10 is allowed (the rewrite was never committed, but its page may
  // have reached the data file); the size is the committed one and nothing else differs.
  assert.equal(bigObject.length, big.length);
  assert.equal(sha(bigObject.subarray(10)), sha(big.subarray(10)));
  const head = bigObject.subarray(0, 10);
  assert.ok(head.equals(big.subarray(0, 10)) || head.equals(Buffer.alloc(10, 0xee)));
  assert.equal(inner.getSync('uncommitted')?.length, 0, 'its committed state is the empty file CREATE made');

  // Parts 2..5 were reused from the dead server's upload; part 1 only if its bytes were unchanged.
  const uploaded = inner.calls.flatMap((c) => (c.api === 'uploadPart' ? [c.partNumber] : []));
  assert.ok(!uploaded.some((n) => n >= 2 && n <= 5), `parts 2-5 reused, uploaded: ${uploaded.join(',')}`);
  assert.ok(uploaded.includes(6), 'the short last part is uploaded at publish');
  assert.equal(inner.callCount('createMultipartUpload'), 0, 'the upload was resumed, not restarted');
  assert.equal(inner.pendingUploads().length, 0);
});

test('a resumed upload that no longer exists is restarted', async (t) => {
  const dir = await tempDir(t);
  const inner = memoryStore();
  const a = await doomedWritePath(dir, inner);
  const data = pattern(3 * P, 5);
  await a.wp.create('k', { mode: 'unchecked' });
  await a.wp.write('k', 0, data, 'unstable');
  await waitFor(() => inner.pendingUploads().length === 1 && a.wp.status().files[0]!.uploadedBytes === 3 * P, 'parts');
  await a.wp.commit('k');
  a.crash();
  // Someone (a lifecycle rule) aborted it meanwhile.
  const [u] = inner.pendingUploads();
  await inner.abortMultipartUpload(u!.key, u!.uploadId);

  const b = await openWritePath(t, dir, inner);
  await b.orphanCleanup;
  assert.deepEqual((await b.flush()).map((r) => r.outcome), ['published']);
  assert.equal(sha(inner.getSync('k')!), sha(data));
  assert.equal(inner.pendingUploads().length, 0);
});

test('start-up aborts the uploads a dead server abandoned and leaves other clients’ uploads alone', async (t) => {
  const dir = await tempDir(t);
  const inner = memoryStore();
  const a = await doomedWritePath(dir, inner);
  const foreignSameDir = await inner.createMultipartUpload('other-client/file');
  // The first CreateMultipartUpload takes effect but its reply is lost: an upload we never learn.
  a.store.inject({ api: 'createMultipartUpload', error: 'Unavailable', when: 'after', times: 1 });
  // And the abort of a moot upload fails, so it stays journaled.
  a.store.inject({ api: 'abortMultipartUpload', error: 'Unavailable', times: 1 });

  await a.wp.create('lost-reply', { mode: 'unchecked' });
  const data = pattern(4 * P, 8);
  await a.wp.write('lost-reply', 0, data.subarray(0, 2 * P + 1), 'unstable'); // streaming tries and fails
  await waitFor(() => a.store.injected >= 1, 'the lost reply');
  // Streaming creates another upload; parts 1, 3 and 4 stream (part 2's attempt failed: publish sends it).
  await a.wp.write('lost-reply', 2 * P + 1, data.subarray(2 * P + 1), 'unstable');
  await waitFor(() => a.wp.status().files[0]!.uploadedBytes === 3 * P, 'parts to stream');
  await a.wp.commit('lost-reply');

  await a.wp.create('shrunk', { mode: 'unchecked' });
  await a.wp.write('shrunk', 0, pattern(3 * P, 9), 'unstable');
  await waitFor(() => inner.pendingUploads().filter((u) => u.key === 'shrunk').length === 1, 'shrunk upload');
  await a.wp.setAttributes('shrunk', { size: 10 });
  assert.deepEqual((await a.wp.flush('shrunk')).map((r) => r.outcome), ['published']); // its abort fails
  assert.equal(inner.pendingUploads().length, 4, 'foreign + lost reply + current + moot');
  a.crash();

  const b = await openWritePath(t, dir, inner);
  const report = await b.orphanCleanup;
  assert.equal(report.failed.length, 0);
  assert.deepEqual(report.aborted.map((u) => u.key).sort(), ['lost-reply', 'shrunk']);
  const left = inner.pendingUploads();
  assert.equal(left.length, 2, 'the foreign upload and the one being resumed');
  assert.ok(left.some((u) => u.uploadId === foreignSameDir));
  await b.flush();
  assert.equal(sha(inner.getSync('lost-reply')!), sha(data));
  assert.deepEqual(inner.pendingUploads().map((u) => u.uploadId), [foreignSameDir]);
  assert.deepEqual(await readdir(path.join(dir, 'uploads')), [], 'the journal is empty again');
});

test('files published before a crash are not uploaded again', async (t) => {
  const dir = await tempDir(t);
  const inner = memoryStore();
  const a = await doomedWritePath(dir, inner);
  await a.wp.create('done', { mode: 'unchecked' });
  await a.wp.write('done', 0, Buffer.from('published'), 'file_sync');
  await a.wp.flush();
  a.crash();
  inner.clearLog();
  const b = await openWritePath(t, dir, inner);
  await b.orphanCleanup;
  assert.deepEqual(b.stagedFiles(), []);
  assert.deepEqual(await b.flush(), []);
  assert.equal(inner.callCount('put'), 0);
  assert.equal(inner.getSync('done')?.toString(), 'published');
});
