import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFsError } from '../../../../src/fs/errors.js';
import { MAX_PARTS, type PublishedEvent } from '../../../../src/fs/write/write-path.js';
import { FaultInjectingObjectStore } from '../../../../src/s3/faulty-store.js';
import { KiB, memoryStore, openWritePath, pattern, sha, tempDir } from './helpers.js';

const P = 16 * KiB; // the part size openWritePath uses

test('a small file is one PutObject, invisible in S3 until published, readable through the mount', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  await wp.create('dir/small.txt', { mode: 'unchecked' });
  const reply = await wp.write('dir/small.txt', 0, Buffer.from('hello\n'), 'file_sync');
  assert.deepEqual(reply, { count: 6, committed: 'file_sync' });

  assert.equal(store.getSync('dir/small.txt'), undefined, 'nothing in S3 before publish');
  const staged = await wp.read('dir/small.txt', 0, 100);
  assert.equal(staged?.data.toString(), 'hello\n');
  assert.equal(staged?.eof, true);
  assert.equal(wp.getAttributes('dir/small.txt')?.size, 6);
  assert.deepEqual(
    wp.stagedFiles('dir/').map((f) => f.key),
    ['dir/small.txt'],
  );

  assert.deepEqual(await wp.flush('dir/small.txt'), [{ key: 'dir/small.txt', outcome: 'published' }]);
  assert.equal(store.getSync('dir/small.txt')?.toString(), 'hello\n');
  assert.equal(store.callCount('put'), 1);
  assert.equal(store.callCount('createMultipartUpload'), 0);
  // retainPublishedMs is 0 in these tests: the staged copy is gone and reads go to S3.
  assert.equal(wp.isStaged('dir/small.txt'), false);
});

test('touch: CREATE alone publishes an empty object', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  const attrs = await wp.create('empty', { mode: 'unchecked' });
  assert.equal(attrs?.size, 0);
  await wp.setAttributes('empty', { atime: new Date(5000), mtime: new Date(6000) });
  assert.equal(wp.getAttributes('empty')?.mtime.getTime(), 6000);
  await wp.flush();
  assert.equal(store.getSync('empty')?.length, 0);
});

test('a large file streams full parts while it is written and completes one multipart upload', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  const data = pattern(10 * P + 1234);
  await wp.create('big.bin', { mode: 'unchecked' });
  const chunk = 4 * KiB;
  for (let off = 0; off < data.length; off += chunk) {
    await wp.write('big.bin', off, data.subarray(off, off + chunk), 'unstable');
  }
  await wp.commit('big.bin');
  // Streaming runs in the background: wait until it has sent the full parts it can.
  const streamed = async () => {
    for (let i = 0; i < 200 && store.callCount('uploadPart') < 10; i++) await new Promise((r) => setTimeout(r, 5));
    return store.callCount('uploadPart');
  };
  assert.equal(await streamed(), 10, 'the 10 full parts were uploaded before publish');
  assert.equal(store.getSync('big.bin'), undefined, 'no object before publish');
  assert.equal(store.pendingUploads().length, 1);

  await wp.flush('big.bin');
  assert.equal(sha(store.getSync('big.bin')!), sha(data));
  assert.equal(store.callCount('uploadPart'), 11, 'only the short last part was uploaded at publish');
  assert.equal(store.callCount('completeMultipartUpload'), 1);
  assert.equal(store.callCount('put'), 0);
  assert.equal(store.pendingUploads().length, 0);
});

test('out-of-order, concurrent and overlapping identical writes assemble the file exactly', async (t) => {
  const dir = await tempDir(t);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 3 * P + 100 }),
      fc.integer({ min: 1, max: 9 * KiB }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 0, max: 1_000_000 }),
      async (size, chunk, rewrites, seed) => {
        const store = memoryStore();
        const wp = await openWritePath(t, `${dir}/${n++}`, store);
        const key = `f${n}`;
        const data = pattern(size, seed + 1);
        await wp.create(key, { mode: 'guarded' });
        const writes: Array<[number, number]> = [];
        for (let off = 0; off < size; off += chunk) writes.push([off, Math.min(size, off + chunk)]);
        // Resent ranges, as an append resends its page from the page start: same bytes again.
        for (const r of rewrites) {
          if (size === 0) break;
          const s = r % size;
          writes.push([s, Math.min(size, s + 1 + (r % (2 * chunk)))]);
        }
        const order = fc.sample(fc.shuffledSubarray(writes, { minLength: writes.length }), { numRuns: 1, seed })[0]!;
        // All at once: they complete in any order.
        await Promise.all(order.map(([s, e]) => wp.write(key, s, data.subarray(s, e), 'unstable')));
        await wp.commit(key);
        const staged = await wp.read(key, 0, size + 10);
        assert.equal(staged?.data.length, size);
        assert.equal(sha(staged!.data), sha(data));
        const [res] = await wp.flush(key);
        assert.equal(res?.outcome, 'published');
        assert.equal(sha(store.getSync(key)!), sha(data));
        assert.equal(store.pendingUploads().length, 0);
        await wp.shutdown(1000);
      },
    ),
    { numRuns: 25 },
  );
});

test('COMMIT can arrive mid-file while WRITEs are still outstanding, and writing continues after it', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  const data = pattern(5 * P, 7);
  await wp.create('k', { mode: 'unchecked' });
  const pending: Array<Promise<unknown>> = [];
  for (let off = 0; off < data.length; off += 8 * KiB) {
    pending.push(wp.write('k', off, data.subarray(off, off + 8 * KiB), 'unstable'));
    if (off === 2 * P) pending.push(wp.commit('k'));
  }
  await Promise.all(pending);
  await wp.commit('k');
  await wp.flush('k');
  assert.equal(sha(store.getSync('k')!), sha(data));
});

test('a WRITE that lands while the object is completing is kept: the file is published again with it', async (t) => {
  const inner = memoryStore();
  const store = new FaultInjectingObjectStore(inner);
  const wp = await openWritePath(t, await tempDir(t), store);
  const first = pattern(3 * P, 3);
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, first, 'unstable');
  const extra = Buffer.from('appended while completing');
  store.onceBefore('completeMultipartUpload', async () => {
    await wp.write('k', first.length, extra, 'unstable');
  });
  const [r1] = await wp.flush('k');
  assert.equal(r1?.outcome, 'changed-during-publish');
  // S3 holds the complete earlier version, never a mix.
  assert.equal(sha(inner.getSync('k')!), sha(first));
  assert.equal(wp.isStaged('k'), true);
  assert.equal((await wp.read('k', first.length, 100))?.data.toString(), extra.toString());

  const [r2] = await wp.flush('k');
  assert.equal(r2?.outcome, 'published');
  assert.equal(sha(inner.getSync('k')!), sha(Buffer.concat([first, extra])));
  assert.equal(inner.pendingUploads().length, 0);
});

test('a WRITE that lands while parts are uploading supersedes the publish; nothing partial is completed', async (t) => {
  const inner = memoryStore();
  const store = new FaultInjectingObjectStore(inner);
  const wp = await openWritePath(t, await tempDir(t), store, { partConcurrency: 1 });
  const data = pattern(3 * P + 10, 4);
  await wp.create('k', { mode: 'unchecked' });
  // One write of everything: streaming starts for the full parts.
  await wp.write('k', 0, data, 'unstable');
  const patch = Buffer.alloc(100, 0x55);
  store.onceBefore('uploadPart', async () => {
    await wp.write('k', 5, patch, 'unstable'); // into part 1
  });
  const [r1] = await wp.flush('k');
  assert.ok(r1?.outcome === 'changed-during-publish' || r1?.outcome === 'published');
  const expected = Buffer.from(data);
  patch.copy(expected, 5);
  if (r1?.outcome === 'changed-during-publish') {
    const seen = inner.getSync('k');
    assert.ok(seen === undefined || sha(seen) === sha(data), 'S3 holds nothing or a whole version');
    await wp.flush('k');
  }
  assert.equal(sha(inner.getSync('k')!), sha(expected));
  assert.equal(inner.pendingUploads().length, 0);
});

test('a file cut below one part after parts streamed is one PUT, and its upload is aborted', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  const data = pattern(4 * P, 9);
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, data, 'unstable');
  for (let i = 0; i < 200 && store.pendingUploads().length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  await wp.setAttributes('k', { size: 100 });
  await wp.write('k', 200, Buffer.from('x'), 'unstable'); // hole 100..200 reads as zeros
  await wp.flush('k');
  const expected = Buffer.concat([data.subarray(0, 100), Buffer.alloc(100), Buffer.from('x')]);
  assert.equal(sha(store.getSync('k')!), sha(expected));
  assert.equal(store.pendingUploads().length, 0);
});

test('a file cut below one part while its multipart upload is still being created: that upload is aborted too', async (t) => {
  const inner = memoryStore();
  const store = new FaultInjectingObjectStore(inner);
  // S3 has created the upload, but its answer is late: the write path does not know the id yet.
  let answer!: () => void;
  const late = new Promise<void>((resolve) => (answer = resolve));
  store.afterCall((call) => (call.api === 'createMultipartUpload' ? late : undefined));
  const wp = await openWritePath(t, await tempDir(t), store);
  const data = pattern(4 * P, 5);
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, data, 'unstable');
  for (let i = 0; i < 200 && inner.pendingUploads().length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(inner.pendingUploads().length, 1, 'part streaming started an upload');
  await wp.setAttributes('k', { size: 100 });
  const flushed = wp.flush('k');
  setTimeout(answer, 20);
  await flushed;
  assert.equal(sha(inner.getSync('k')!), sha(data.subarray(0, 100)));
  assert.equal(inner.pendingUploads().length, 0, 'the upload that was being created is aborted');
});

test('CREATE modes: GUARDED and EXCLUSIVE see existing names; EXCLUSIVE retransmits succeed', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  const remote = store.putSync('old', 'remote bytes');
  const v1 = Buffer.from('01234567');
  const v2 = Buffer.from('89abcdef');

  await assert.rejects(wp.create('old', { mode: 'guarded' }, remote), (e) => isFsError(e, 'EXIST'));
  await assert.rejects(wp.create('old', { mode: 'exclusive', verifier: v1 }, remote), (e) => isFsError(e, 'EXIST'));
  assert.equal(await wp.create('old', { mode: 'unchecked' }, remote), undefined, 'UNCHECKED opens the object');

  assert.equal((await wp.create('new', { mode: 'exclusive', verifier: v1 }))?.size, 0);
  assert.equal((await wp.create('new', { mode: 'exclusive', verifier: v1 }))?.size, 0, 'retransmission');
  await assert.rejects(wp.create('new', { mode: 'exclusive', verifier: v2 }), (e) => isFsError(e, 'EXIST'));
  await assert.rejects(wp.create('new', { mode: 'guarded' }), (e) => isFsError(e, 'EXIST'));
  await wp.write('new', 0, Buffer.from('abc'), 'unstable');
  assert.equal((await wp.create('new', { mode: 'unchecked' }))?.size, 3, 'UNCHECKED keeps a staged file');
  await wp.create('new', { mode: 'unchecked' }, undefined, { size: 1 });
  assert.equal(wp.getAttributes('new')?.size, 1);
});

test('existing objects are replaced only with allowOverwrite, and only by truncate or a full rewrite', async (t) => {
  const store = memoryStore();
  const dir = await tempDir(t);
  const strict = await openWritePath(t, `${dir}/a`, store);
  const remote = store.putSync('obj', 'original');
  await assert.rejects(strict.write('obj', 0, Buffer.from('new bytes!'), 'file_sync', remote), (e) =>
    isFsError(e, 'PERM'),
  );
  await assert.rejects(strict.setAttributes('obj', { size: 0 }, remote), (e) => isFsError(e, 'PERM'));
  await assert.rejects(strict.write('gone', 0, Buffer.from('x'), 'unstable'), (e) => isFsError(e, 'STALE'));
  assert.equal(strict.isStaged('obj'), false);
  await strict.shutdown(1000);

  const wp = await openWritePath(t, `${dir}/b`, store, { allowOverwrite: true });
  await assert.rejects(wp.write('obj', 3, Buffer.from('x'), 'unstable', remote), (e) => isFsError(e, 'NOTSUPP'));
  // O_TRUNC: SETATTR size 0, then writes.
  await wp.setAttributes('obj', { size: 0 }, remote);
  assert.equal(store.getSync('obj')?.toString(), 'original', 'S3 keeps the old object until publish');
  assert.equal((await wp.read('obj', 0, 100))?.data.length, 0);
  await wp.write('obj', 0, Buffer.from('replaced'), 'file_sync');
  await wp.flush();
  assert.equal(store.getSync('obj')?.toString(), 'replaced');

  // A single write covering the whole object from 0 (echo more >> f resends the page) also replaces it.
  const remote2 = store.infoSync('obj')!;
  await wp.write('obj', 0, Buffer.from('replaced more'), 'file_sync', remote2);
  await wp.flush();
  assert.equal(store.getSync('obj')?.toString(), 'replaced more');
});

test('FBIG past MAX_PARTS parts; the limit itself is allowed', async (t) => {
  const wp = await openWritePath(t, await tempDir(t), memoryStore(), { partSize: 1024 });
  const max = MAX_PARTS * 1024;
  assert.equal(wp.maxObjectSize, max);
  await wp.create('k', { mode: 'unchecked' });
  await assert.rejects(wp.write('k', max - 1, Buffer.from('ab'), 'unstable'), (e) => isFsError(e, 'FBIG'));
  await assert.rejects(wp.setAttributes('k', { size: max + 1 }), (e) => isFsError(e, 'FBIG'));
  await wp.write('k', max - 1, Buffer.from('a'), 'unstable');
  assert.equal(wp.getAttributes('k')?.size, max);
  await wp.remove('k');
});

test('SETATTR size on a file being written: shrink drops bytes, growth reads zeros', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, Buffer.alloc(100, 1), 'unstable');
  await wp.setAttributes('k', { size: 50 });
  await wp.write('k', 80, Buffer.alloc(10, 2), 'unstable');
  await wp.setAttributes('k', { size: 120 });
  const expected = Buffer.concat([Buffer.alloc(50, 1), Buffer.alloc(30), Buffer.alloc(10, 2), Buffer.alloc(30)]);
  assert.deepEqual((await wp.read('k', 0, 1000))?.data, expected);
  await wp.flush('k');
  assert.deepEqual(store.getSync('k'), expected);
});

test('the publish listener runs while the staged copy still answers, then reads go to S3', async (t) => {
  const store = memoryStore();
  const events: Array<PublishedEvent & { stagedDuringEvent: boolean }> = [];
  const wp = await openWritePath(t, await tempDir(t), store, {
    onPublished: (e) => events.push({ ...e, stagedDuringEvent: wp.isStaged(e.key) }),
  });
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, Buffer.from('abc'), 'file_sync');
  await wp.flush('k');
  assert.equal(events.length, 1);
  assert.equal(events[0]!.size, 3);
  assert.equal(events[0]!.etag, store.infoSync('k')!.etag);
  assert.equal(events[0]!.stagedDuringEvent, true);
  assert.equal(await wp.read('k', 0, 10), undefined);
});

test('a published file is kept as a local copy; a later write continues it and republishes', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store, { retainPublishedMs: 3_600_000 });
  await wp.create('log', { mode: 'unchecked' });
  await wp.write('log', 0, Buffer.from('line 1\n'), 'file_sync');
  await wp.flush();
  assert.equal(store.getSync('log')?.toString(), 'line 1\n');
  assert.equal(wp.getAttributes('log')?.phase, 'published');
  // The client paused past the publish delay, then flushed more dirty pages.
  await wp.write('log', 7, Buffer.from('line 2\n'), 'unstable');
  assert.equal(wp.getAttributes('log')?.phase, 'writing');
  await wp.commit('log');
  await wp.flush();
  assert.equal(store.getSync('log')?.toString(), 'line 1\nline 2\n');
});

test('REMOVE of a staged file drops it and aborts its multipart upload', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, pattern(3 * P), 'unstable');
  for (let i = 0; i < 200 && store.pendingUploads().length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(store.pendingUploads().length, 1);
  assert.deepEqual(await wp.remove('k'), { wasStaged: true, published: false });
  assert.equal(wp.isStaged('k'), false);
  assert.equal(store.pendingUploads().length, 0);
  assert.equal(store.getSync('k'), undefined);
  assert.deepEqual(await wp.flush(), []);
});

test('status reports staged files by phase with their bytes', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store, { retainPublishedMs: 3_600_000 });
  await wp.create('a', { mode: 'unchecked' });
  await wp.write('a', 0, Buffer.alloc(10), 'unstable');
  await wp.create('b', { mode: 'unchecked' });
  await wp.write('b', 0, Buffer.alloc(20), 'file_sync');
  await wp.flush('b');
  const s = wp.status();
  assert.equal(s.verifier, wp.verifier.toString());
  assert.deepEqual(
    s.files.map((f) => [f.key, f.phase, f.size, f.durableBytes]),
    [
      ['a', 'writing', 10, 0],
      ['b', 'published', 20, 20],
    ],
  );
  assert.equal(s.totals.staged, 2);
  assert.equal(s.totals.writing, 1);
  assert.equal(s.totals.published, 1);
  assert.equal(s.totals.bytes, 30);
  assert.equal(s.totals.unpublishedBytes, 10);
});

test('shutdown publishes everything, then refuses changes with JUKEBOX', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store);
  await wp.create('a', { mode: 'unchecked' });
  await wp.write('a', 0, Buffer.from('A'), 'unstable');
  await wp.create('b', { mode: 'unchecked' });
  await wp.write('b', 0, pattern(2 * P + 5), 'unstable');
  const report = await wp.shutdown(10_000);
  assert.deepEqual(report.published.sort(), ['a', 'b']);
  assert.deepEqual(report.remaining, []);
  assert.equal(store.getSync('a')?.toString(), 'A');
  assert.equal(store.getSync('b')?.length, 2 * P + 5);
  await assert.rejects(wp.write('a', 0, Buffer.from('x'), 'unstable'), (e) => isFsError(e, 'JUKEBOX'));
});
