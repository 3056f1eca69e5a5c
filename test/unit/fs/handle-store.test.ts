import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isFsError } from '../../../src/fs/errors.js';
import { exportIdFor } from '../../../src/fs/file-handle.js';
import { HandleStore, ROOT_ID } from '../../../src/fs/handle-store.js';
import { withTempDir } from './fs-helpers.js';

const EXPORT = { bucket: 'bucket', prefix: '' };

function logPath(stateDir: string, bucket = EXPORT.bucket, prefix = EXPORT.prefix): string {
  return join(stateDir, 'exports', exportIdFor(bucket, prefix).toString(16).padStart(8, '0'), 'handles.log');
}

test('the root is id 1, a directory at path ""', async () => {
  const store = await HandleStore.open(EXPORT);
  assert.equal(ROOT_ID, 1n);
  assert.deepEqual(store.get(ROOT_ID), { id: 1n, kind: 'dir', path: '' });
  assert.equal(await store.assign('dir', ''), ROOT_ID);
  await store.forget(ROOT_ID);
  assert.ok(store.get(ROOT_ID));
});

test('ids are stable per (kind, path), distinct across kinds, and shared by concurrent callers', async () => {
  await withTempDir(async (stateDir) => {
    const store = await HandleStore.open({ ...EXPORT, stateDir });
    const [a1, a2, a3] = await Promise.all([store.assign('file', 'a'), store.assign('file', 'a'), store.assign('file', 'a')]);
    assert.equal(a1, a2);
    assert.equal(a2, a3);
    const dirA = await store.assign('dir', 'a');
    assert.notEqual(dirA, a1);
    assert.equal(store.idOf('file', 'a'), a1);
    assert.equal(store.idOf('dir', 'a'), dirA);
    assert.deepEqual(store.get(a1), { id: a1, kind: 'file', path: 'a' });
    await store.close();
  });
});

test('a new instance on the same state dir maps the same ids, and keeps issuing new ones', async () => {
  await withTempDir(async (stateDir) => {
    const paths = ['a', 'a/b', 'dir with space/ünï😀', 'line\nbreak', 'x'.repeat(1000)];
    const first = await HandleStore.open({ ...EXPORT, stateDir });
    const ids = await first.assignMany(paths.map((path) => ({ kind: 'file' as const, path })));
    const dirId = await first.assign('dir', 'a');
    const generation = first.generation;
    await first.close();

    const second = await HandleStore.open({ ...EXPORT, stateDir });
    assert.equal(second.generation, generation);
    assert.equal(second.exportId, exportIdFor(EXPORT.bucket, EXPORT.prefix));
    paths.forEach((path, i) => assert.deepEqual(second.get(ids[i]!), { id: ids[i], kind: 'file', path }));
    assert.equal(second.idOf('dir', 'a'), dirId);
    const fresh = await second.assign('file', 'new');
    assert.ok(fresh > dirId && ids.every((id) => fresh > id), 'new ids never reuse old ones');
    await second.close();
  });
});

test('an id is durable before assign resolves (a crash right after loses nothing)', async () => {
  await withTempDir(async (stateDir) => {
    const store = await HandleStore.open({ ...EXPORT, stateDir });
    const id = await store.assign('file', 'k');
    // No close(): read the log as a restarted process would.
    const again = await HandleStore.open({ ...EXPORT, stateDir });
    assert.deepEqual(again.get(id), { id, kind: 'file', path: 'k' });
    await store.close();
    await again.close();
  });
});

test('many assigns in one turn become one batch, all durable', async () => {
  await withTempDir(async (stateDir) => {
    const store = await HandleStore.open({ ...EXPORT, stateDir });
    const entries = Array.from({ length: 5000 }, (_, i) => ({ kind: 'file' as const, path: `d/f${i}` }));
    const ids = await store.assignMany(entries);
    assert.equal(new Set(ids).size, 5000);
    const reopened = await HandleStore.open({ ...EXPORT, stateDir });
    ids.forEach((id, i) => assert.equal(reopened.get(id)?.path, `d/f${i}`));
    await store.close();
    await reopened.close();
  });
});

test('a torn tail is cut off at load and later records follow a clean one', async () => {
  await withTempDir(async (stateDir) => {
    const store = await HandleStore.open({ ...EXPORT, stateDir });
    const a = await store.assign('file', 'a');
    await store.close();
    const log = logPath(stateDir);
    const goodSize = (await stat(log)).size;
    await appendFile(log, Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 1, 1])); // a record cut mid-way

    const second = await HandleStore.open({ ...EXPORT, stateDir });
    assert.equal((await stat(log)).size, goodSize);
    assert.equal(second.get(a)?.path, 'a');
    const b = await second.assign('file', 'b');
    await second.close();

    const third = await HandleStore.open({ ...EXPORT, stateDir });
    assert.equal(third.get(a)?.path, 'a');
    assert.equal(third.get(b)?.path, 'b');
    await third.close();
  });
});

test('a corrupted record ends the log (CRC mismatch)', async () => {
  await withTempDir(async (stateDir) => {
    const store = await HandleStore.open({ ...EXPORT, stateDir });
    const a = await store.assign('file', 'a');
    const b = await store.assign('file', 'b');
    await store.close();
    const log = logPath(stateDir);
    const bytes = await readFile(log);
    bytes[bytes.length - 1]! ^= 0xff; // last byte of b's path
    await writeFile(log, bytes);
    const again = await HandleStore.open({ ...EXPORT, stateDir });
    assert.equal(again.get(a)?.path, 'a');
    assert.equal(again.get(b), undefined);
    const c = await again.assign('file', 'c');
    assert.ok(c > a);
    await again.close();
  });
});

test('forgotten ids are gone after a restart, are never reused, and compaction shrinks the log', async () => {
  await withTempDir(async (stateDir) => {
    const store = await HandleStore.open({ ...EXPORT, stateDir, compactAfterDeadRecords: 50 });
    const ids = await store.assignMany(Array.from({ length: 200 }, (_, i) => ({ kind: 'file' as const, path: `f${i}` })));
    const keep = ids.slice(0, 10);
    const sizeBefore = (await stat(logPath(stateDir))).size;
    for (const id of ids.slice(10)) await store.forget(id);
    assert.equal(store.get(ids[10]!), undefined);
    assert.equal(store.idOf('file', 'f10'), undefined);
    await store.close();
    assert.ok((await stat(logPath(stateDir))).size < sizeBefore, 'the log was compacted');

    const again = await HandleStore.open({ ...EXPORT, stateDir, compactAfterDeadRecords: 50 });
    keep.forEach((id, i) => assert.equal(again.get(id)?.path, `f${i}`));
    for (const id of ids.slice(10)) assert.equal(again.get(id), undefined);
    const back = await again.assign('file', 'f10');
    assert.ok(back > ids[ids.length - 1]!, 'a path that comes back gets a new id');
    await again.close();
  });
});

test('exports keep separate state; a generation is per state directory', async () => {
  await withTempDir(async (stateDir) => {
    const one = await HandleStore.open({ bucket: 'b', prefix: '', stateDir });
    const two = await HandleStore.open({ bucket: 'b', prefix: 'p/', stateDir });
    assert.notEqual(one.exportId, two.exportId);
    const x = await one.assign('file', 'x');
    assert.equal(two.idOf('file', 'x'), undefined);
    assert.equal(two.get(x), undefined);
    await one.close();
    await two.close();
    await withTempDir(async (otherDir) => {
      const elsewhere = await HandleStore.open({ bucket: 'b', prefix: '', stateDir: otherDir });
      assert.notEqual(elsewhere.generation, one.generation);
      await elsewhere.close();
    });
  });
});

test('state written for another bucket is refused, not mixed', async () => {
  await withTempDir(async (stateDir) => {
    const dir = join(stateDir, 'exports', exportIdFor('b', '').toString(16).padStart(8, '0'));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'export.json'), JSON.stringify({ version: 1, bucket: 'other', prefix: '', exportId: 1, generation: 5 }));
    await assert.rejects(HandleStore.open({ bucket: 'b', prefix: '', stateDir }), (e: unknown) => isFsError(e, 'IO'));
  });
});

test('without a state dir ids live in memory only', async () => {
  const store = await HandleStore.open(EXPORT);
  const id = await store.assign('file', 'a');
  assert.equal(store.get(id)?.path, 'a');
  const other = await HandleStore.open(EXPORT);
  assert.equal(other.get(id), undefined);
});

test('a closed store refuses new ids', async () => {
  await withTempDir(async (stateDir) => {
    const store = await HandleStore.open({ ...EXPORT, stateDir });
    await store.close();
    await assert.rejects(store.assign('file', 'late'), (e: unknown) => isFsError(e, 'IO'));
  });
});
