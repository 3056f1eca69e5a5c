// Changes through the FileSystem facade (CREATE, WRITE, COMMIT, SETATTR, MKDIR, RMDIR, REMOVE) on an
// export opened with openExport over an in-memory bucket: what NFS clients see on this server at
// once, and what the bucket sees once files are published. The write engine's own tests cover its
// internals (staging, multipart, recovery); these check the file-system rules on top.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareTimes } from '../../../src/fs/attributes.js';
import { listing, lookupPath, openTestExport, rejectsWith, writeFile } from './export-helpers.js';

test('create + unstable writes + commit, then publish: the object lands in the bucket', async (t) => {
  const exp = await openTestExport(t);
  const { fs, memory } = exp;
  const made = await fs.create(fs.rootId, 'big.bin', { mode: 'unchecked', attributes: { mode: 0o644 } });
  assert.equal(made.attributes.size, 0);
  assert.equal(made.attributes.type, 'file');
  const data = Buffer.alloc(50 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  const verifier = exp.writePath!.verifier.bytes;
  // Sent in order, completed in any order, as the Linux client does.
  const replies = await Promise.all(
    [0, 1, 2, 3, 4].map((i) => fs.write(made.id, i * 10 * 1024, data.subarray(i * 10 * 1024, (i + 1) * 10 * 1024), 'unstable')),
  );
  for (const r of replies) {
    assert.equal(r.committed, 'unstable', 'an UNSTABLE write is answered UNSTABLE');
    assert.ok(r.verifier.equals(verifier), 'WRITE carries the boot verifier');
    assert.equal(r.count, 10 * 1024);
  }
  const committed = await fs.commit(made.id, 0, 0);
  assert.ok(committed.verifier.equals(verifier));
  assert.equal(committed.attributes.size, data.length);
  assert.equal(memory.getSync('big.bin'), undefined, 'COMMIT is not publish');

  const results = await exp.flush();
  assert.deepEqual(results, [{ key: 'big.bin', outcome: 'published' }]);
  assert.ok(memory.getSync('big.bin')!.equals(data));
});

test('FILE_SYNC and DATA_SYNC writes are answered FILE_SYNC (durable on return)', async (t) => {
  const { fs } = await openTestExport(t);
  const f = await fs.create(fs.rootId, 'f', { mode: 'unchecked', attributes: {} });
  assert.equal((await fs.write(f.id, 0, Buffer.from('ab'), 'file_sync')).committed, 'file_sync');
  assert.equal((await fs.write(f.id, 2, Buffer.from('cd'), 'data_sync')).committed, 'file_sync');
  assert.equal((await fs.getattr(f.id)).size, 4);
});

test('read-your-writes before publish: READ, GETATTR, LOOKUP and READDIR(PLUS) show the staged file', async (t) => {
  const exp = await openTestExport(t);
  const { fs, memory } = exp;
  memory.putSync('docs/old.txt', 'old');
  const docs = await lookupPath(fs, 'docs');
  const made = await writeFile(fs, docs.id, 'new.txt', 'hello, staged world');
  assert.equal(memory.getSync('docs/new.txt'), undefined);

  const read = await fs.read(made.id, 7, 100);
  assert.equal(read.data.toString(), 'staged world');
  assert.equal(read.eof, true);
  assert.equal((await fs.getattr(made.id)).size, 19);
  const looked = await fs.lookup(docs.id, 'new.txt');
  assert.equal(looked.id, made.id);
  assert.equal(looked.attributes.size, 19);
  assert.deepEqual(await listing(fs, docs.id), { 'new.txt': 19, 'old.txt': 3 });

  // The listing follows later writes too.
  await fs.write(made.id, 19, Buffer.from('!'), 'unstable');
  assert.deepEqual(await listing(fs, docs.id), { 'new.txt': 20, 'old.txt': 3 });

  // A new file in a new subtree: its parent directories exist here before anything is in S3.
  const mkdirless = await fs.create(docs.id, 'later.txt', { mode: 'guarded', attributes: {} });
  assert.equal(mkdirless.attributes.size, 0);
  assert.deepEqual(Object.keys(await listing(fs, docs.id)).sort(), ['later.txt', 'new.txt', 'old.txt']);
});

test('overwrite: truncate to 0 and rewrite needs --allow-overwrite; the new version is read with its ETag', async (t) => {
  const exp = await openTestExport(t, { allowOverwrite: true });
  const { fs, memory } = exp;
  memory.putSync('f', 'the old version');
  const f = await lookupPath(fs, 'f');
  assert.equal((await fs.read(f.id, 0, 100)).data.toString(), 'the old version');
  const truncated = await fs.setattr(f.id, { size: 0, mtime: 'server' });
  assert.equal(truncated.size, 0);
  await fs.write(f.id, 0, Buffer.from('new'), 'file_sync');
  assert.equal((await fs.read(f.id, 0, 100)).data.toString(), 'new', 'staged bytes, not the old object');
  assert.equal(memory.getSync('f')!.toString(), 'the old version', 'S3 sees the old object until publish');

  await exp.flush();
  const etag = memory.infoSync('f')!.etag;
  assert.equal(memory.getSync('f')!.toString(), 'new');
  memory.clearLog();
  const after = await fs.read(f.id, 0, 100);
  assert.equal(after.data.toString(), 'new');
  const gets = memory.calls.filter((c) => c.api === 'get');
  assert.ok(gets.length > 0, 'the published file is read from S3');
  for (const call of gets) assert.equal((call.req as { ifMatch?: string }).ifMatch, etag);

  // A full rewrite from offset 0 also replaces an object (with the flag).
  memory.putSync('g', 'abc');
  const g = await lookupPath(fs, 'g');
  await fs.write(g.id, 0, Buffer.from('xyz!'), 'file_sync');
  await exp.flush();
  assert.equal(memory.getSync('g')!.toString(), 'xyz!');
});

test('without --allow-overwrite, existing objects cannot be truncated or rewritten', async (t) => {
  const { fs, memory } = await openTestExport(t);
  memory.putSync('f', 'keep me');
  const f = await lookupPath(fs, 'f');
  await assert.rejects(fs.setattr(f.id, { size: 0 }), rejectsWith('PERM'));
  await assert.rejects(fs.write(f.id, 0, Buffer.from('replaced'), 'file_sync'), rejectsWith('PERM'));
  await assert.rejects(fs.create(fs.rootId, 'f', { mode: 'unchecked', attributes: { size: 0 } }), rejectsWith('PERM'));
  assert.equal(memory.getSync('f')!.toString(), 'keep me');
  assert.equal((await fs.getattr(f.id)).size, 7);
  // A size equal to the object's changes nothing and is fine.
  assert.equal((await fs.setattr(f.id, { size: 7 })).size, 7);
});

test('CREATE: GUARDED and EXCLUSIVE on an existing file are EXIST; any mode on a directory is EXIST', async (t) => {
  const { fs, memory } = await openTestExport(t);
  memory.putSync('remote.txt', 'r');
  memory.putSync('dir/inside', 'i');
  await writeFile(fs, fs.rootId, 'staged.txt', 's');
  for (const name of ['remote.txt', 'staged.txt']) {
    await assert.rejects(fs.create(fs.rootId, name, { mode: 'guarded', attributes: {} }), rejectsWith('EXIST'), name);
    await assert.rejects(fs.create(fs.rootId, name, { mode: 'exclusive', verifier: Buffer.alloc(8, 3) }), rejectsWith('EXIST'), name);
  }
  await fs.mkdir(fs.rootId, 'localdir', {});
  for (const name of ['dir', 'localdir']) {
    for (const mode of ['unchecked', 'guarded'] as const) {
      await assert.rejects(fs.create(fs.rootId, name, { mode, attributes: {} }), rejectsWith('EXIST'), `${mode} ${name}`);
    }
  }
  // UNCHECKED on a file opens it as it is.
  const again = await fs.create(fs.rootId, 'staged.txt', { mode: 'unchecked', attributes: {} });
  assert.equal(again.attributes.size, 1);
  const remote = await fs.create(fs.rootId, 'remote.txt', { mode: 'unchecked', attributes: {} });
  assert.equal(remote.attributes.size, 1);
  assert.equal(remote.id, (await fs.lookup(fs.rootId, 'remote.txt')).id);
  // Names that cannot be keys.
  await assert.rejects(fs.create(fs.rootId, 'x'.repeat(256), { mode: 'unchecked', attributes: {} }), rejectsWith('NAMETOOLONG'));
  await assert.rejects(fs.create(fs.rootId, '.', { mode: 'unchecked', attributes: {} }), rejectsWith('EXIST'));
});

test('EXCLUSIVE CREATE: a retransmission with the same verifier succeeds with the same file; cp\'s SETATTR(mode) follows', async (t) => {
  const { fs } = await openTestExport(t, { ownership: { fileMode: 0o600 } });
  const verifier = Buffer.from('cpverif1');
  const first = await fs.create(fs.rootId, 'copy', { mode: 'exclusive', verifier });
  const retransmit = await fs.create(fs.rootId, 'copy', { mode: 'exclusive', verifier: Buffer.from(verifier) });
  assert.equal(retransmit.id, first.id);
  await assert.rejects(fs.create(fs.rootId, 'copy', { mode: 'exclusive', verifier: Buffer.from('another!') }), rejectsWith('EXIST'));
  // cp sends SETATTR mode=0644 + times right after; the export's mode stays 0600.
  const set = await fs.setattr(first.id, { mode: 0o644, atime: 'server', mtime: 'server' });
  assert.equal(set.mode, 0o600);
  await assert.rejects(fs.setattr(first.id, { mode: 0o644 }), rejectsWith('PERM'), 'a later chmod is refused');
  assert.equal((await fs.setattr(first.id, { mode: 0o600 })).mode, 0o600, 'setting the mode it has is fine');
});

test('SETATTR: times on a staged file apply; on an object they are accepted and change nothing; owners are fixed', async (t) => {
  const { fs, memory } = await openTestExport(t);
  const lastModified = new Date('2024-01-02T03:04:05.000Z');
  memory.putSync('obj', 'o', { lastModified });
  const obj = await lookupPath(fs, 'obj');
  const touched = await fs.setattr(obj.id, { atime: 'server', mtime: 'server' });
  assert.deepEqual(touched.mtime, { sec: lastModified.getTime() / 1000, nsec: 0 });
  await assert.rejects(fs.setattr(obj.id, { uid: 1234 }), rejectsWith('PERM'));
  await assert.rejects(fs.setattr(obj.id, { gid: 1234 }), rejectsWith('PERM'));
  await assert.rejects(fs.setattr(obj.id, { mode: 0o777 }), rejectsWith('PERM'));
  assert.equal((await fs.setattr(obj.id, { uid: 0, gid: 0, mode: 0o644 })).size, 1, 'unchanged owner and mode are fine');

  const staged = await writeFile(fs, fs.rootId, 'staged', 'abc');
  const set = await fs.setattr(staged.id, { mtime: { sec: 1_000_000, nsec: 5_000_000 }, size: 5 });
  assert.deepEqual(set.mtime, { sec: 1_000_000, nsec: 5_000_000 });
  assert.equal(set.size, 5);
  const read = await fs.read(staged.id, 0, 10);
  assert.deepEqual([...read.data], [0x61, 0x62, 0x63, 0, 0], 'growing fills with zeros');

  await assert.rejects(fs.setattr(staged.id, { size: 1 }, { sec: 1, nsec: 0 }), rejectsWith('NOT_SYNC'), 'guard on ctime');
  const guarded = await fs.setattr(staged.id, { size: 1 }, set.ctime);
  assert.equal(guarded.size, 1);

  const dir = await fs.mkdir(fs.rootId, 'd', {});
  await assert.rejects(fs.setattr(dir.id, { size: 0 }), rejectsWith('ISDIR'));
  assert.equal((await fs.setattr(dir.id, { mtime: 'server' })).type, 'dir');
});

test('REMOVE of objects needs --allow-delete; a staged file that was never published is simply dropped', async (t) => {
  const exp = await openTestExport(t);
  const { fs, memory } = exp;
  memory.putSync('obj', 'o');
  await assert.rejects(fs.remove(fs.rootId, 'obj'), rejectsWith('PERM'));
  assert.ok(memory.getSync('obj'));

  await writeFile(fs, fs.rootId, 'draft', 'not yet published');
  await fs.remove(fs.rootId, 'draft');
  await assert.rejects(fs.lookup(fs.rootId, 'draft'), rejectsWith('NOENT'));
  assert.deepEqual(await exp.flush(), []);
  assert.equal(memory.getSync('draft'), undefined);

  await assert.rejects(fs.remove(fs.rootId, 'nothing'), rejectsWith('NOENT'));
  await fs.mkdir(fs.rootId, 'd', {});
  await assert.rejects(fs.remove(fs.rootId, 'd'), rejectsWith('ISDIR'));
});

test('REMOVE with --allow-delete deletes objects, including one published from a staged copy', async (t) => {
  const exp = await openTestExport(t, { allowDelete: true, writeTuning: { retainPublishedMs: 3_600_000 } });
  const { fs, memory } = exp;
  memory.putSync('obj', 'o');
  const obj = await lookupPath(fs, 'obj');
  await fs.remove(fs.rootId, 'obj');
  assert.equal(memory.getSync('obj'), undefined);
  await assert.rejects(fs.getattr(obj.id), rejectsWith('STALE'));

  await writeFile(fs, fs.rootId, 'pub', 'published');
  await exp.flush();
  assert.ok(exp.writePath!.isStaged('pub'), 'the published copy is retained');
  await fs.remove(fs.rootId, 'pub');
  assert.equal(memory.getSync('pub'), undefined);
  assert.equal(exp.writePath!.isStaged('pub'), false);
  await assert.rejects(fs.lookup(fs.rootId, 'pub'), rejectsWith('NOENT'));
});

test('REMOVE without --allow-delete of a file already published from here is PERM and keeps both copies', async (t) => {
  const exp = await openTestExport(t, { writeTuning: { retainPublishedMs: 3_600_000 } });
  const { fs, memory } = exp;
  await writeFile(fs, fs.rootId, 'pub', 'published');
  await exp.flush();
  await assert.rejects(fs.remove(fs.rootId, 'pub'), rejectsWith('PERM'));
  assert.equal(memory.getSync('pub')!.toString(), 'published');
  assert.equal((await fs.lookup(fs.rootId, 'pub')).attributes.size, 9);
});

test('MKDIR makes a local directory; a file written inside publishes dir/file and the directory becomes an S3 one', async (t) => {
  const exp = await openTestExport(t);
  const { fs, memory } = exp;
  memory.putSync('file', 'f');
  const d = await fs.mkdir(fs.rootId, 'd', { mode: 0o755 });
  assert.equal(d.attributes.type, 'dir');
  assert.equal(memory.keys().length, 1, 'nothing in S3');
  assert.deepEqual(await listing(fs, fs.rootId), { d: 'dir', file: 1 });
  assert.equal((await fs.lookup(fs.rootId, 'd')).id, d.id);
  await assert.rejects(fs.mkdir(fs.rootId, 'd', {}), rejectsWith('EXIST'));
  await assert.rejects(fs.mkdir(fs.rootId, 'file', {}), rejectsWith('EXIST'));

  const sub = await fs.mkdir(d.id, 'sub', {});
  assert.deepEqual(await listing(fs, d.id), { sub: 'dir' });
  await assert.rejects(fs.rmdir(fs.rootId, 'd'), rejectsWith('NOTEMPTY'));
  await fs.rmdir(d.id, 'sub');
  await assert.rejects(fs.getattr(sub.id), rejectsWith('STALE'));

  const f = await writeFile(fs, d.id, 'f.txt', 'inside');
  await assert.rejects(fs.rmdir(fs.rootId, 'd'), rejectsWith('NOTEMPTY'), 'a staged file is inside');
  await exp.flush();
  assert.equal(memory.getSync('d/f.txt')!.toString(), 'inside');
  assert.equal((await fs.getattr(d.id)).type, 'dir');
  assert.equal((await fs.read(f.id, 0, 10)).data.toString(), 'inside');
  await assert.rejects(fs.rmdir(fs.rootId, 'd'), rejectsWith('NOTEMPTY'), 'keys lie under it in S3');

  // An ordinary S3 directory now: it goes when its last key does.
  memory.deleteSync('d/f.txt');
  await assert.rejects(fs.getattr(d.id), rejectsWith('STALE'));
  await assert.rejects(fs.lookup(fs.rootId, 'd'), rejectsWith('NOENT'));
});

test('RMDIR: empty local directories go; S3 directories are never empty; a marker object needs --allow-delete', async (t) => {
  const { fs, memory } = await openTestExport(t);
  memory.putSync('remote/a', 'a');
  memory.putSync('marker/', '');
  const made = await fs.mkdir(fs.rootId, 'made', {});
  await fs.rmdir(fs.rootId, 'made');
  await assert.rejects(fs.lookup(fs.rootId, 'made'), rejectsWith('NOENT'));
  await assert.rejects(fs.getattr(made.id), rejectsWith('STALE'));
  await assert.rejects(fs.rmdir(fs.rootId, 'made'), rejectsWith('NOENT'));
  await assert.rejects(fs.rmdir(fs.rootId, 'remote'), rejectsWith('NOTEMPTY'));
  await assert.rejects(fs.rmdir(fs.rootId, 'marker'), rejectsWith('PERM'));
  await assert.rejects(fs.rmdir(fs.rootId, 'nothing'), rejectsWith('NOENT'));
  const remote = await lookupPath(fs, 'remote');
  await assert.rejects(fs.rmdir(remote.id, 'a'), rejectsWith('NOTDIR'));
  await assert.rejects(fs.rmdir(fs.rootId, '.'), rejectsWith('INVAL'));

  const withDelete = await openTestExport(t, { allowDelete: true, bucket: 'other' });
  withDelete.memory.putSync('marker/', '');
  await withDelete.fs.rmdir(withDelete.fs.rootId, 'marker');
  assert.equal(withDelete.memory.getSync('marker/'), undefined);
  await assert.rejects(withDelete.fs.lookup(withDelete.fs.rootId, 'marker'), rejectsWith('NOENT'));
});

test('RENAME is NOTSUPP for now; symlinks, device nodes and hard links are NOTSUPP', async (t) => {
  const { fs, memory } = await openTestExport(t);
  memory.putSync('f', 'x');
  const f = await lookupPath(fs, 'f');
  await assert.rejects(fs.rename(fs.rootId, 'f', fs.rootId, 'g'), rejectsWith('NOTSUPP'));
  await assert.rejects(fs.symlink(fs.rootId, 'l', 'f', {}), rejectsWith('NOTSUPP'));
  await assert.rejects(fs.mknod(fs.rootId, 'p', 'fifo'), rejectsWith('NOTSUPP'));
  await assert.rejects(fs.link(f.id, fs.rootId, 'h'), rejectsWith('NOTSUPP'));
});

test('a read-only export answers ROFS to every change and has no write path', async (t) => {
  const exp = await openTestExport(t, { readOnly: true });
  const { fs, memory } = exp;
  memory.putSync('f', 'x');
  memory.putSync('d/g', 'y');
  const f = await lookupPath(fs, 'f');
  const root = fs.rootId;
  assert.equal(exp.writePath, undefined);
  await assert.rejects(fs.setattr(f.id, { size: 0 }), rejectsWith('ROFS'));
  await assert.rejects(fs.setattr(f.id, { mtime: 'server' }), rejectsWith('ROFS'));
  await assert.rejects(fs.write(f.id, 0, Buffer.from('y'), 'unstable'), rejectsWith('ROFS'));
  await assert.rejects(fs.commit(f.id, 0, 0), rejectsWith('ROFS'));
  await assert.rejects(fs.create(root, 'n', { mode: 'unchecked', attributes: {} }), rejectsWith('ROFS'));
  await assert.rejects(fs.create(root, 'n', { mode: 'exclusive', verifier: Buffer.alloc(8) }), rejectsWith('ROFS'));
  await assert.rejects(fs.mkdir(root, 'n', {}), rejectsWith('ROFS'));
  await assert.rejects(fs.remove(root, 'f'), rejectsWith('ROFS'));
  await assert.rejects(fs.rmdir(root, 'd'), rejectsWith('ROFS'));
  await assert.rejects(fs.rename(root, 'f', root, 'g'), rejectsWith('ROFS'));
  assert.deepEqual(memory.keys().sort(), ['d/g', 'f']);
  assert.deepEqual(await exp.flush(), []);
  assert.equal(exp.status().readOnly, true);
});

test('a directory changes its mtime when a file is created or removed in it', async (t) => {
  const { fs } = await openTestExport(t, { allowDelete: true });
  const d = await fs.mkdir(fs.rootId, 'd', {});
  const t0 = (await fs.getattr(d.id)).mtime;
  const made = await fs.create(d.id, 'f', { mode: 'unchecked', attributes: {} });
  assert.ok(made.dirAttributes && compareTimes(made.dirAttributes.mtime, t0) > 0, 'CREATE moves the directory mtime');
  const t1 = (await fs.getattr(d.id)).mtime;
  await fs.remove(d.id, 'f');
  assert.ok(compareTimes((await fs.getattr(d.id)).mtime, t1) > 0, 'REMOVE moves it again');
});

test('with a long metadata TTL, a published file is known without asking S3 and read with its new ETag', async (t) => {
  const exp = await openTestExport(t, { metadataTtlMs: 3_600_000 });
  const { fs, memory } = exp;
  await assert.rejects(fs.lookup(fs.rootId, 'n'), rejectsWith('NOENT'), 'remembered as missing');
  const d = await fs.mkdir(fs.rootId, 'd', {});
  assert.equal((await fs.getattr(d.id)).type, 'dir', 'probed while still local');
  const made = await writeFile(fs, fs.rootId, 'n', 'fresh');
  const inDir = await writeFile(fs, d.id, 'f', 'in d');
  await exp.flush();
  const etag = memory.infoSync('n')!.etag;
  memory.clearLog();
  assert.equal((await fs.lookup(fs.rootId, 'n')).attributes.size, 5);
  assert.equal(memory.callCount('head'), 0, 'the publish told the cache');
  assert.equal((await fs.read(made.id, 0, 10)).data.toString(), 'fresh');
  assert.deepEqual(
    memory.calls.filter((c) => c.api === 'get').map((c) => (c.req as { ifMatch?: string }).ifMatch),
    [etag],
  );
  // The directory made here is an S3 directory now, and its cached "empty" probe was not trusted.
  assert.equal((await fs.getattr(d.id)).type, 'dir');
  assert.equal((await fs.read(inDir.id, 0, 10)).data.toString(), 'in d');
  assert.deepEqual(await listing(fs, d.id), { f: 4 });
});

test('status() reports staged files and their phase; flush() publishes them', async (t) => {
  const exp = await openTestExport(t);
  await writeFile(exp.fs, exp.fs.rootId, 'a', 'aaa');
  const before = exp.status();
  assert.equal(before.readOnly, false);
  assert.equal(before.write?.totals.writing, 1);
  assert.equal(before.write?.files[0]?.key, 'a');
  assert.match(before.exportId, /^[0-9a-f]{8}$/);
  await exp.flush();
  assert.equal(exp.status().write?.totals.staged, 0);
  assert.equal(exp.memory.getSync('a')!.toString(), 'aaa');
});

test('a prefix export writes keys under its prefix', async (t) => {
  const exp = await openTestExport(t, { prefix: 'team/x/', allowDelete: true });
  const { fs, memory } = exp;
  memory.putSync('outside', 'o');
  const d = await fs.mkdir(fs.rootId, 'd', {});
  await writeFile(fs, d.id, 'f', 'prefixed');
  await exp.flush();
  assert.equal(memory.getSync('team/x/d/f')!.toString(), 'prefixed');
  assert.deepEqual(await listing(fs, fs.rootId), { d: 'dir' });
  await fs.remove(d.id, 'f');
  assert.deepEqual(memory.keys(), ['outside']);
});
