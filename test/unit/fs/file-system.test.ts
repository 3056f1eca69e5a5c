import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Access, grantedAccess, type Caller } from '../../../src/fs/access.js';
import { compareTimes, type FileAttributes } from '../../../src/fs/attributes.js';
import { isFsError, type FsStatus } from '../../../src/fs/errors.js';
import { encodeFileHandle } from '../../../src/fs/file-handle.js';
import { MiB, S3FileSystem, TiB, type S3FileSystemOptions } from '../../../src/fs/file-system.js';
import { HandleStore } from '../../../src/fs/handle-store.js';
import { FaultInjectingObjectStore } from '../../../src/s3/faulty-store.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import type { ObjectStore } from '../../../src/s3/object-store.js';
import { FakeLocalState, walkTree, withTempDir } from './fs-helpers.js';

const LAST_MODIFIED = new Date('2024-05-06T07:08:09.000Z');

async function setup(options: Partial<S3FileSystemOptions> & { stateDir?: string; store?: ObjectStore; memory?: MemoryObjectStore } = {}) {
  const memory = options.memory ?? new MemoryObjectStore();
  const prefix = options.prefix ?? '';
  const handles =
    options.handles ?? (await HandleStore.open({ bucket: 'b', prefix, ...(options.stateDir ? { stateDir: options.stateDir } : {}) }));
  const fs = new S3FileSystem({ ...options, store: options.store ?? memory, handles, prefix });
  return { memory, handles, fs };
}

function rejectsWith(status: FsStatus) {
  return (e: unknown) => {
    assert.ok(isFsError(e, status), `expected ${status}, got ${String(e)}`);
    return true;
  };
}

test('GETATTR: size and mtime from S3, mode/uid/gid from options, nlink 1/2, fileid = the id', async () => {
  const { memory, fs } = await setup({ ownership: { uid: 1000, gid: 100, fileMode: 0o640, dirMode: 0o750 }, mountTimeMs: 1_600_000_000_500 });
  memory.putSync('dir/file.txt', 'hello world', { lastModified: LAST_MODIFIED });
  const dir = await fs.lookup(fs.rootId, 'dir');
  const file = await fs.lookup(dir.id, 'file.txt');
  const attrs = await fs.getattr(file.id);
  assert.deepEqual(attrs, {
    type: 'file',
    mode: 0o640,
    nlink: 1,
    uid: 1000,
    gid: 100,
    size: 11,
    used: 4096,
    fileid: file.id,
    atime: { sec: LAST_MODIFIED.getTime() / 1000, nsec: 0 },
    mtime: { sec: LAST_MODIFIED.getTime() / 1000, nsec: 0 },
    ctime: { sec: LAST_MODIFIED.getTime() / 1000, nsec: 0 },
  });
  const dirAttrs = await fs.getattr(dir.id);
  assert.equal(dirAttrs.type, 'dir');
  assert.equal(dirAttrs.mode, 0o750);
  assert.equal(dirAttrs.nlink, 2);
  assert.equal(dirAttrs.fileid, dir.id);
  assert.deepEqual(dirAttrs.mtime, { sec: 1_600_000_000, nsec: 500_000_000 }, 'directories show the mount time until they change');
  const root = await fs.getattr(fs.rootId);
  assert.equal(root.fileid, 1n);
  assert.equal(root.type, 'dir');
});

test('LOOKUP sends HEAD and LIST (prefix name/, MaxKeys 1) at the same time', async () => {
  const memory = new MemoryObjectStore();
  memory.putSync('a/b', 'x');
  let inFlight = 0;
  let most = 0;
  // The latency function runs as each call starts; afterCall as it ends.
  const store = new FaultInjectingObjectStore(memory, {
    latencyMs: () => {
      inFlight++;
      most = Math.max(most, inFlight);
      return 20;
    },
  });
  store.afterCall(() => {
    inFlight--;
  });
  const { fs } = await setup({ memory, store });
  memory.clearLog();
  const a = await fs.lookup(fs.rootId, 'a');
  assert.equal(a.attributes.type, 'dir');
  assert.deepEqual(memory.calls, [
    { api: 'head', key: 'a' },
    { api: 'list', req: { prefix: 'a/', maxKeys: 1 } },
  ]);
  assert.equal(most, 2, 'both requests were in flight together');
});

test('a directory shadows a file of the same name; the file comes back when the directory goes', async () => {
  const { memory, fs } = await setup();
  memory.putSync('blue', 'file');
  const asFile = await fs.lookup(fs.rootId, 'blue');
  assert.equal(asFile.attributes.type, 'file');
  memory.putSync('blue/image.jpg', 'img');
  const asDir = await fs.lookup(fs.rootId, 'blue');
  assert.equal(asDir.attributes.type, 'dir');
  assert.notEqual(asDir.id, asFile.id);
  await assert.rejects(fs.getattr(asFile.id), rejectsWith('STALE'));
  memory.deleteSync('blue/image.jpg');
  await assert.rejects(fs.getattr(asDir.id), rejectsWith('STALE'));
  const back = await fs.lookup(fs.rootId, 'blue');
  assert.equal(back.id, asFile.id, 'the file keeps its id');
  assert.equal((await fs.getattr(asFile.id)).size, 4);
});

test('keys ending in / make directories; invalid names are hidden and not found', async () => {
  const { memory, fs } = await setup();
  for (const key of ['red/', 'blue/', 'blue/image.jpg', 'a/../b', 'a/./c', 'x//y', '..', '.', 'ok\0not', 'long/' + 'x'.repeat(256)]) {
    memory.putSync(key, 'v');
  }
  const tree = await walkTree(fs, { withAttributes: true, budget: () => 2 });
  assert.deepEqual(
    [...tree].sort(),
    [
      ['a', 'dir'],
      ['blue', 'dir'],
      ['blue/image.jpg', 'file:1'],
      ['long', 'dir'],
      ['red', 'dir'],
      ['x', 'dir'],
    ],
  );
  const a = await fs.lookup(fs.rootId, 'a');
  await assert.rejects(fs.lookup(a.id, ''), rejectsWith('NOENT'));
  await assert.rejects(fs.lookup(fs.rootId, 'ok\0not'), rejectsWith('NOENT'));
  const long = await fs.lookup(fs.rootId, 'long');
  await assert.rejects(fs.lookup(long.id, 'x'.repeat(256)), rejectsWith('NAMETOOLONG'));
  // '.' and '..' are the directory and its parent, never keys.
  assert.equal((await fs.lookup(a.id, '.')).id, a.id);
  assert.equal((await fs.lookup(a.id, '..')).id, fs.rootId);
  assert.equal((await fs.lookup(fs.rootId, '..')).id, fs.rootId);
});

test('a prefix mount shows only keys under the prefix', async () => {
  const { memory, fs } = await setup({ prefix: 'team/data' });
  memory.putSync('team/data/x.csv', '1,2');
  memory.putSync('team/data/sub/y.csv', '3');
  memory.putSync('team/data', 'not me');
  memory.putSync('team/database', 'nor me');
  memory.putSync('other', 'nope');
  const tree = await walkTree(fs, { withAttributes: false, budget: () => 3 });
  assert.deepEqual(
    [...tree].sort(),
    [
      ['sub', 'dir'],
      ['sub/y.csv', 'file:1'],
      ['x.csv', 'file:3'],
    ],
  );
  const x = await fs.lookup(fs.rootId, 'x.csv');
  assert.equal((await fs.read(x.id, 0, 100)).data.toString(), '1,2');
});

test('handles: root is stable forever; other handles need this state; garbage is BADHANDLE', async () => {
  await withTempDir(async (stateDir) => {
    const { memory, fs, handles } = await setup({ stateDir });
    memory.putSync('f', 'data');
    const f = await fs.lookup(fs.rootId, 'f');
    const handle = fs.handleFor(f.id);
    assert.equal(handle.length, 24);
    assert.equal(fs.idForHandle(handle), f.id);
    assert.equal(fs.idForHandle(fs.handleFor(fs.rootId)), fs.rootId);

    // Another state dir (say the old one was wiped): the root still works, f's handle is STALE.
    const other = await setup({ memory });
    assert.deepEqual(other.fs.handleFor(other.fs.rootId), fs.handleFor(fs.rootId));
    assert.throws(() => other.fs.idForHandle(handle), rejectsWith('STALE'));

    // Never issued, other export, mangled.
    const unknown = encodeFileHandle({ exportId: fs.exportId, fileId: 999n, generation: handles.generation });
    assert.throws(() => fs.idForHandle(unknown), rejectsWith('STALE'));
    const otherExport = encodeFileHandle({ exportId: fs.exportId ^ 1, fileId: f.id, generation: handles.generation });
    assert.throws(() => fs.idForHandle(otherExport), rejectsWith('STALE'));
    const mangled = Buffer.from(handle);
    mangled[10]! ^= 1;
    assert.throws(() => fs.idForHandle(mangled), rejectsWith('BADHANDLE'));
    assert.throws(() => fs.idForHandle(handle.subarray(0, 16)), rejectsWith('BADHANDLE'));
    await handles.close();
  });
});

test('restart: a new server on the same state dir serves the old handles (ls, stat, cat), no STALE', async () => {
  await withTempDir(async (stateDir) => {
    const memory = new MemoryObjectStore();
    memory.putSync('docs/readme.md', '# hi\n');
    memory.putSync('docs/img/a.png', 'png');
    const before = await setup({ memory, stateDir });
    const docs = await before.fs.lookup(before.fs.rootId, 'docs');
    const readme = await before.fs.lookup(docs.id, 'readme.md');
    const docsHandle = before.fs.handleFor(docs.id);
    const readmeHandle = before.fs.handleFor(readme.id);
    const listed = await walkTree(before.fs, { withAttributes: true, budget: () => 5 });
    // No close: a crash.

    const after = await setup({ memory, stateDir });
    const docsId = after.fs.idForHandle(docsHandle);
    const readmeId = after.fs.idForHandle(readmeHandle);
    assert.equal((await after.fs.getattr(readmeId)).size, 5);
    assert.equal((await after.fs.read(readmeId, 0, 4096)).data.toString(), '# hi\n');
    const page = await after.fs.readdir(docsId, { cookie: 0n, verifier: 0n, withAttributes: true, maxEntries: 100 });
    assert.deepEqual(page.entries.map((e) => e.name).sort(), ['.', '..', 'img', 'readme.md']);
    assert.equal(page.entries.find((e) => e.name === 'readme.md')?.fileid, readme.id, 'same id as before the restart');
    assert.deepEqual(await walkTree(after.fs, { withAttributes: true, budget: () => 5 }), listed);
    await before.handles.close();
    await after.handles.close();
  });
});

test('READ: ranges, eof, If-Match on every GET; a replaced object is read fresh, never mixed', async () => {
  const { memory, fs } = await setup();
  memory.putSync('f', '0123456789');
  const f = await fs.lookup(fs.rootId, 'f');
  const etag = memory.infoSync('f')!.etag;
  memory.clearLog();
  assert.deepEqual(await fs.read(f.id, 2, 3).then((r) => [r.data.toString(), r.eof]), ['234', false]);
  assert.deepEqual(await fs.read(f.id, 7, 100).then((r) => [r.data.toString(), r.eof]), ['789', true]);
  assert.deepEqual(await fs.read(f.id, 10, 5).then((r) => [r.data.length, r.eof]), [0, true]);
  assert.deepEqual(await fs.read(f.id, 50, 5).then((r) => [r.data.length, r.eof]), [0, true]);
  assert.deepEqual(memory.calls, [
    { api: 'get', req: { key: 'f', range: { start: 2, end: 5 }, ifMatch: etag } },
    { api: 'get', req: { key: 'f', range: { start: 7, end: 10 }, ifMatch: etag } },
  ]);

  memory.putSync('f', 'ABCDEFGHIJKLMNOP');
  const fresh = await fs.read(f.id, 0, 4);
  assert.equal(fresh.data.toString(), 'ABCD');
  assert.equal(fresh.attributes.size, 16, 'the reply carries the new size so the client drops its cache');

  memory.deleteSync('f');
  await assert.rejects(fs.read(f.id, 0, 4), rejectsWith('STALE'));
});

test('READ of a directory is ISDIR; LOOKUP in a file is NOTDIR; READLINK is INVAL', async () => {
  const { memory, fs } = await setup();
  memory.putSync('d/f', 'x');
  const d = await fs.lookup(fs.rootId, 'd');
  const f = await fs.lookup(d.id, 'f');
  await assert.rejects(fs.read(d.id, 0, 1), rejectsWith('ISDIR'));
  await assert.rejects(fs.lookup(f.id, 'x'), rejectsWith('NOTDIR'));
  await assert.rejects(fs.readlink(f.id), rejectsWith('INVAL'));
  await assert.rejects(fs.getattr(12345n), rejectsWith('STALE'));
});

test('S3 failures become statuses: throttling is JUKEBOX, the rest IO', async () => {
  const memory = new MemoryObjectStore();
  memory.putSync('f', 'x');
  const store = new FaultInjectingObjectStore(memory);
  const { fs } = await setup({ memory, store });
  store.failNext('head', 'Throttled');
  await assert.rejects(fs.lookup(fs.rootId, 'f'), rejectsWith('JUKEBOX'));
  store.failNext('list', 'Unavailable');
  await assert.rejects(fs.lookup(fs.rootId, 'f'), rejectsWith('IO'));
  assert.equal((await fs.lookup(fs.rootId, 'f')).attributes.size, 1);
});

test('metadata cache: TTL 0 asks S3 every time; a TTL answers from memory until it passes', async () => {
  let now = 1_000_000;
  const memory = new MemoryObjectStore();
  memory.putSync('f', 'abc');
  const zero = await setup({ memory });
  const f0 = await zero.fs.lookup(zero.fs.rootId, 'f');
  memory.clearLog();
  await zero.fs.getattr(f0.id);
  await zero.fs.getattr(f0.id);
  assert.equal(memory.callCount('head'), 2);

  const cached = await setup({ memory, metadataTtlMs: 1000, clock: () => now });
  const f1 = await cached.fs.lookup(cached.fs.rootId, 'f');
  memory.clearLog();
  memory.putSync('f', 'abcdef');
  assert.equal((await cached.fs.getattr(f1.id)).size, 3, 'within the TTL: the cached answer');
  assert.equal(memory.callCount(), 0);
  now += 1000;
  assert.equal((await cached.fs.getattr(f1.id)).size, 6, 'after the TTL: S3 again');
});

test('negative cache: NOENT is remembered for the negative TTL only', async () => {
  let now = 0;
  const { memory, fs } = await setup({ metadataTtlMs: 0, negativeTtlMs: 500, clock: () => now });
  await assert.rejects(fs.lookup(fs.rootId, 'late'), rejectsWith('NOENT'));
  memory.putSync('late', 'here');
  memory.clearLog();
  await assert.rejects(fs.lookup(fs.rootId, 'late'), rejectsWith('NOENT'));
  assert.equal(memory.callCount(), 0);
  now += 500;
  assert.equal((await fs.lookup(fs.rootId, 'late')).attributes.size, 4);
});

test('concurrent LOOKUPs of one name share one HEAD + LIST', async () => {
  const memory = new MemoryObjectStore();
  memory.putSync('f', 'x');
  const store = new FaultInjectingObjectStore(memory, { latencyMs: 10 });
  const { fs } = await setup({ memory, store });
  memory.clearLog();
  const results = await Promise.all(Array.from({ length: 5 }, () => fs.lookup(fs.rootId, 'f')));
  assert.equal(new Set(results.map((r) => r.id)).size, 1);
  assert.equal(memory.callCount('head'), 1);
  assert.equal(memory.callCount('list'), 1);
});

test("a directory's mtime moves when its contents change, and only then", async () => {
  let now = 1_000_000;
  const { memory, fs } = await setup({ clock: () => now, mountTimeMs: 1_000_000 });
  memory.putSync('d/a', '1');
  const d = await fs.lookup(fs.rootId, 'd');
  const t0 = (await fs.getattr(d.id)).mtime;
  now += 10;
  assert.deepEqual((await fs.getattr(d.id)).mtime, t0, 'unchanged contents: same mtime');
  await fs.readdir(d.id, { cookie: 0n, verifier: 0n, withAttributes: true, maxEntries: 10 });
  assert.deepEqual((await fs.getattr(d.id)).mtime, t0);

  memory.putSync('d/b', '2'); // another S3 client adds a file
  now += 10;
  const t1 = (await fs.getattr(d.id)).mtime;
  assert.ok(compareTimes(t1, t0) > 0, 'a new key moves the mtime');
  now += 10;
  assert.deepEqual((await fs.getattr(d.id)).mtime, t1);

  // A negative lookup answered earlier, then the name appears: the parent moves so the client's
  // cached "no such file" is revalidated.
  await assert.rejects(fs.lookup(d.id, 'c'), rejectsWith('NOENT'));
  memory.putSync('d/c', '3');
  now += 10;
  await fs.lookup(d.id, 'c');
  const t2 = (await fs.getattr(d.id)).mtime;
  assert.ok(compareTimes(t2, t1) > 0);

  memory.deleteSync('d/a');
  now += 10;
  const page = await fs.readdir(d.id, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 10 });
  assert.ok(compareTimes(page.dirAttributes.mtime, t2) > 0, 'a deletion seen by READDIR moves it too');
});

test('local state: local directories and files appear, a local file shadows a remote one, a directory wins', async () => {
  const local = new FakeLocalState();
  const { memory, fs } = await setup({ localState: local });
  memory.putSync('remote.txt', 'remote');
  memory.putSync('both', 'remote version');
  local.addDir('newdir/inner');
  local.addFile('newdir/staged.bin', 7);
  local.addDir('shadow');
  memory.putSync('shadow', 'a file hidden by a local directory');
  local.addFile('both', 3);
  local.addFile('x', 1);
  memory.putSync('x/y', 'a remote directory beats a local file');
  const tree = await walkTree(fs, { withAttributes: true, budget: () => 2 });
  assert.deepEqual(
    [...tree].sort(),
    [
      ['both', 'file:3'],
      ['newdir', 'dir'],
      ['newdir/inner', 'dir'],
      ['newdir/staged.bin', 'file:7'],
      ['remote.txt', 'file:6'],
      ['shadow', 'dir'],
      ['x', 'dir'],
      ['x/y', 'file:37'],
    ],
  );
  const newdir = await fs.lookup(fs.rootId, 'newdir');
  const staged = await fs.lookup(newdir.id, 'staged.bin');
  const got = await fs.read(staged.id, 0, 100);
  assert.equal(got.data.length, 7);
  assert.equal(got.eof, true);
});

test('ACCESS follows the mode bits for owner, group, supplementary groups and others', async () => {
  const { memory, fs } = await setup({ ownership: { uid: 1000, gid: 100, fileMode: 0o640, dirMode: 0o750 } });
  memory.putSync('d/f', 'x');
  const d = await fs.lookup(fs.rootId, 'd');
  const f = await fs.lookup(d.id, 'f');
  const ALL = 0x3f;
  const owner: Caller = { uid: 1000, gid: 5, gids: [] };
  const group: Caller = { uid: 2000, gid: 100, gids: [] };
  const supplementary: Caller = { uid: 2000, gid: 5, gids: [7, 100] };
  const other: Caller = { uid: 2000, gid: 5, gids: [7] };
  const root: Caller = { uid: 0, gid: 0, gids: [] };
  assert.equal((await fs.access(f.id, owner, ALL)).granted, Access.READ, 'read-only export: no MODIFY/EXTEND');
  assert.equal((await fs.access(f.id, group, ALL)).granted, Access.READ);
  assert.equal((await fs.access(f.id, supplementary, ALL)).granted, Access.READ);
  assert.equal((await fs.access(f.id, other, ALL)).granted, 0);
  assert.equal((await fs.access(f.id, root, ALL)).granted, Access.READ, 'root may not execute a file with no x bit');
  assert.equal((await fs.access(d.id, owner, ALL)).granted, Access.READ | Access.LOOKUP);
  assert.equal((await fs.access(d.id, group, ALL)).granted, Access.READ | Access.LOOKUP);
  assert.equal((await fs.access(d.id, other, ALL)).granted, 0);
  assert.equal((await fs.access(d.id, owner, Access.LOOKUP)).granted, Access.LOOKUP, 'only what was asked');

  // The same rules when writes are allowed (later slices).
  const file: FileAttributes = (await fs.access(f.id, owner, 0)).attributes;
  assert.equal(grantedAccess(file, owner, ALL, false), Access.READ | Access.MODIFY | Access.EXTEND);
  assert.equal(grantedAccess({ ...file, mode: 0o755 }, other, ALL, false), Access.READ | Access.EXECUTE);
  assert.equal(grantedAccess(file, root, ALL, false), Access.READ | Access.MODIFY | Access.EXTEND);
  const dirAttrs = (await fs.access(d.id, owner, 0)).attributes;
  assert.equal(grantedAccess(dirAttrs, owner, ALL, false), Access.READ | Access.LOOKUP | Access.MODIFY | Access.EXTEND | Access.DELETE);
});

test('FSINFO, FSSTAT and PATHCONF', async () => {
  const { fs } = await setup();
  const info = await fs.fsinfo(fs.rootId);
  assert.equal(info.rtmax, MiB);
  assert.equal(info.wtmax, MiB);
  assert.equal(info.rtpref, MiB);
  assert.equal(info.wtpref, MiB);
  assert.equal(info.maxFileSize, 5 * TiB);
  assert.equal(info.supportsSymlinks, false);
  assert.equal(info.supportsHardLinks, false);
  const stat = await fs.fsstat(fs.rootId);
  assert.ok(stat.totalBytes >= TiB && stat.availBytes <= stat.totalBytes);
  const conf = await fs.pathconf(fs.rootId);
  assert.equal(conf.nameMax, 255);
  assert.equal(conf.noTrunc, true);
  assert.equal(conf.caseInsensitive, false);
  await assert.rejects(fs.fsinfo(4242n), rejectsWith('STALE'));
});

test('without a write path every change is ROFS, links, symlinks and device nodes included', async () => {
  const { memory, fs } = await setup();
  memory.putSync('f', 'x');
  const f = await fs.lookup(fs.rootId, 'f');
  const root = fs.rootId;
  await assert.rejects(fs.setattr(f.id, { size: 0 }), rejectsWith('ROFS'));
  await assert.rejects(fs.write(f.id, 0, Buffer.from('y'), 'unstable'), rejectsWith('ROFS'));
  await assert.rejects(fs.create(root, 'n', { mode: 'unchecked', attributes: {} }), rejectsWith('ROFS'));
  await assert.rejects(fs.mkdir(root, 'n', {}), rejectsWith('ROFS'));
  await assert.rejects(fs.remove(root, 'f'), rejectsWith('ROFS'));
  await assert.rejects(fs.rmdir(root, 'd'), rejectsWith('ROFS'));
  await assert.rejects(fs.rename(root, 'f', root, 'g'), rejectsWith('ROFS'));
  await assert.rejects(fs.commit(f.id, 0, 0), rejectsWith('ROFS'));
  await assert.rejects(fs.symlink(root, 'l', 'f', {}), rejectsWith('ROFS'));
  await assert.rejects(fs.mknod(root, 'p', 'fifo'), rejectsWith('ROFS'));
  await assert.rejects(fs.link(f.id, root, 'h'), rejectsWith('ROFS'));
  await assert.rejects(fs.setattr(777n, {}), rejectsWith('STALE'), 'an unknown handle is STALE before anything else');
  assert.equal(memory.getSync('f')!.toString(), 'x');
});

test('cachedAttributes answers from memory only', async () => {
  const { memory, fs } = await setup();
  memory.putSync('f', 'abc');
  const f = await fs.lookup(fs.rootId, 'f');
  memory.clearLog();
  assert.equal(fs.cachedAttributes(f.id)?.size, 3);
  assert.equal(fs.cachedAttributes(fs.rootId)?.type, 'dir');
  assert.equal(fs.cachedAttributes(999n), undefined);
  assert.equal(memory.callCount(), 0);
});

test('a big directory: GETATTR probes and READDIR agree (no spurious mtime moves); changes past the probe show after READDIR', async () => {
  let now = 5_000_000;
  const { memory, fs } = await setup({ clock: () => now, mountTimeMs: now, listPageSize: 120 });
  for (let i = 0; i < 300; i++) memory.putSync(`big/k${String(i).padStart(3, '0')}`, 'v');
  const big = await fs.lookup(fs.rootId, 'big');
  const t0 = (await fs.getattr(big.id)).mtime;
  const readAll = async () => {
    let cookie = 0n;
    let verifier = 0n;
    for (;;) {
      const r = await fs.readdir(big.id, { cookie, verifier, withAttributes: true, maxEntries: 50 });
      if (r.eof) return r.dirAttributes.mtime;
      cookie = r.entries[r.entries.length - 1]!.cookie;
      verifier = r.verifier;
    }
  };
  now += 10;
  assert.deepEqual(await readAll(), t0);
  now += 10;
  assert.deepEqual((await fs.getattr(big.id)).mtime, t0);
  now += 10;
  assert.deepEqual(await readAll(), t0);

  memory.putSync('big/k999', 'late'); // far past the first probe page
  now += 10;
  assert.deepEqual((await fs.getattr(big.id)).mtime, t0, 'the probe only sees the first page');
  const t1 = await readAll();
  assert.ok(compareTimes(t1, t0) > 0, 'a full listing notices');
  now += 10;
  assert.deepEqual((await fs.getattr(big.id)).mtime, t1);
});

test('localChanged: a local change shows at once, even within the TTL, and moves the parent mtime', async () => {
  let now = 1_000;
  const local = new FakeLocalState();
  const { memory, fs } = await setup({ localState: local, metadataTtlMs: 60_000, clock: () => now });
  memory.putSync('d/a', '1');
  const d = await fs.lookup(fs.rootId, 'd');
  const names = async () =>
    (await fs.readdir(d.id, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 100 })).entries.map((e) => e.name);
  assert.deepEqual(await names(), ['.', '..', 'a']);
  await assert.rejects(fs.lookup(d.id, 'new'), rejectsWith('NOENT'));
  const before = (await fs.getattr(d.id)).mtime;
  now += 1;
  local.addFile('d/new', 3);
  fs.localChanged('d/new');
  assert.deepEqual(await names(), ['.', '..', 'a', 'new']);
  assert.equal((await fs.lookup(d.id, 'new')).attributes.size, 3);
  assert.ok(compareTimes((await fs.getattr(d.id)).mtime, before) > 0);
});

test('the prefetching read path (ReadPathManager) plugs in as the ReadPath', async () => {
  const { ReadPathManager } = await import('../../../src/fs/read/manager.js');
  const { MemoryBudget } = await import('../../../src/fs/read/memory-budget.js');
  const memory = new MemoryObjectStore();
  const data = Buffer.alloc(3 * 1024 * 1024, 7);
  memory.putSync('big.bin', data);
  const readPath = new ReadPathManager(memory, new MemoryBudget(64 * 1024 * 1024), { sweepIntervalMs: 0 });
  try {
    const { fs } = await setup({ memory, readPath });
    const f = await fs.lookup(fs.rootId, 'big.bin');
    const chunks: Buffer[] = [];
    for (let offset = 0; ; offset += MiB) {
      const r = await fs.read(f.id, offset, MiB);
      chunks.push(r.data);
      if (r.eof) break;
    }
    assert.ok(Buffer.concat(chunks).equals(data));
    memory.putSync('big.bin', 'replaced');
    // Buffered bytes of the old version may still be served (whole, never mixed) until the client
    // revalidates, as it does on open (close-to-open): then it gets the new version.
    const stale = await fs.read(f.id, 0, 100);
    assert.ok(stale.data.equals(data.subarray(0, 100)) && stale.attributes.size === data.length);
    assert.equal((await fs.getattr(f.id)).size, 8);
    const fresh = await fs.read(f.id, 0, 100);
    assert.equal(fresh.data.toString(), 'replaced');
    assert.equal(fresh.attributes.size, 8);
  } finally {
    readPath.close();
  }
});
