// docs/semantics.md, checked: every row of its `<!-- checked: operations -->` tables is run
// against a real export (openExport over an in-memory bucket, the NFS program over RPC) with the
// flags the row names, and must get the NFS reply the row states; the errno the row says an
// application sees must be the one the Linux client makes of that reply. Every row of its
// `<!-- checked: keys -->` table puts its keys in a bucket and must show exactly the tree the row
// says. A row this file has no scenario for fails: the checked tables hold only what is checked.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import yargs from 'yargs';
import { CreateMode3, Ftype3, NfsStat3, TimeHow } from '../../../protocol/nfs3/constants.js';
import { emptySattr3 } from '../../../protocol/nfs3/attributes.js';
import { serveFlags } from '../../../src/cli/serve-options.js';
import { HandleStore } from '../../../src/fs/handle-store.js';
import { S3FileSystem, type FileSystem } from '../../../src/fs/file-system.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { checkedTables, codeSpans, column, readRepoFile, type Table } from './markdown.js';
import {
  FIXTURE_OBJECTS,
  P,
  call,
  create,
  lookup,
  mustSucceed,
  openFixture,
  parseFlags,
  sattr,
  write,
  type Fixture,
} from './nfs-fixture.js';

const MAX_PARTS = 10_000;

/**
 * What the Linux NFS client turns each nfsstat3 into (fs/nfs: nfs_stat_to_errno), for the
 * statuses s3nfs answers. JUKEBOX is not an errno: the client waits and retries.
 */
const LINUX_ERRNO: Readonly<Record<string, string>> = {
  NFS3ERR_PERM: 'EPERM',
  NFS3ERR_NOENT: 'ENOENT',
  NFS3ERR_IO: 'EIO',
  NFS3ERR_ACCES: 'EACCES',
  NFS3ERR_EXIST: 'EEXIST',
  NFS3ERR_NOTDIR: 'ENOTDIR',
  NFS3ERR_ISDIR: 'EISDIR',
  NFS3ERR_INVAL: 'EINVAL',
  NFS3ERR_FBIG: 'EFBIG',
  NFS3ERR_NOSPC: 'ENOSPC',
  NFS3ERR_ROFS: 'EROFS',
  NFS3ERR_NAMETOOLONG: 'ENAMETOOLONG',
  NFS3ERR_NOTEMPTY: 'ENOTEMPTY',
  NFS3ERR_STALE: 'ESTALE',
  NFS3ERR_NOTSUPP: 'ENOTSUPP',
  NFS3ERR_SERVERFAULT: 'EREMOTEIO',
};

const STATUS_BY_NAME = new Map<string, number>(Object.entries(NfsStat3));

/** A scenario does whatever setup it needs (which must succeed) and returns the status of the operation. */
type Scenario = (f: Fixture) => Promise<number>;

/** The handle of a new file holding `text`, written through the mount. */
async function newFile(f: Fixture, name: string, text: string): Promise<Buffer> {
  const made = await create(f, f.root, name);
  if (!made.handle) throw new Error(`CREATE ${name}: status ${made.status} while setting up`);
  const status = await write(f, made.handle, 0n, Buffer.from(text));
  if (status !== NfsStat3.NFS3_OK) throw new Error(`WRITE ${name}: status ${status} while setting up`);
  return made.handle;
}

async function setSize(f: Fixture, object: Buffer, size: bigint): Promise<number> {
  const res = await call(f, P.SETATTR, {
    object,
    newAttributes: sattr({ size, mtime: { how: TimeHow.SET_TO_SERVER_TIME } }),
    guard: undefined,
  });
  return res.status;
}

async function readAll(f: Fixture, file: Buffer): Promise<{ status: number; text?: string; size?: bigint }> {
  const res = await call(f, P.READ, { file, offset: 0n, count: 4096 });
  if (res.status !== NfsStat3.NFS3_OK) return { status: res.status };
  return { status: res.status, text: res.resok.data.toString(), size: res.resok.fileAttributes?.size };
}

/** The key ends up in S3 only when the scenario says so; a refused change leaves the bucket as it was. */
function assertObject(f: Fixture, key: string, text: string | undefined): void {
  assert.equal(f.memory.getSync(key)?.toString(), text, `object ${key}`);
}

const SCENARIOS: Readonly<Record<string, Scenario>> = {
  // ---- reading and looking up ----------------------------------------------------------------
  '`LOOKUP` of a missing name': async (f) => (await call(f, P.LOOKUP, { what: { dir: f.root, name: 'missing.txt' } })).status,

  '`LOOKUP` of a name another client created after a `LOOKUP` missed it': async (f) => {
    const missed = await call(f, P.LOOKUP, { what: { dir: f.root, name: 'late.txt' } });
    assert.equal(missed.status, NfsStat3.NFS3ERR_NOENT);
    f.memory.putSync('late.txt', 'late\n');
    return (await call(f, P.LOOKUP, { what: { dir: f.root, name: 'late.txt' } })).status;
  },

  '`READ` of an object another client replaced since the `LOOKUP`': async (f) => {
    const file = await lookup(f, f.root, 'old.txt');
    f.memory.putSync('old.txt', 'a newer, longer version\n');
    const got = await readAll(f, file);
    if (got.status === NfsStat3.NFS3_OK) {
      assert.equal(got.text, 'a newer, longer version\n', 'the new version, whole: never a mix of the two');
      assert.equal(got.size, 24n, 'with the new size, so the client drops its cached pages');
    }
    return got.status;
  },

  '`READ` of an object another client deleted since the `LOOKUP`': async (f) => {
    const file = await lookup(f, f.root, 'old.txt');
    f.memory.deleteSync('old.txt');
    return (await readAll(f, file)).status;
  },

  '`READ` again of bytes already read, after another client replaced or deleted the object': async (f) => {
    const file = await lookup(f, f.root, 'old.txt');
    assert.equal((await readAll(f, file)).text, 'old contents\n');
    f.memory.putSync('old.txt', 'a newer, longer version\n');
    const got = await readAll(f, file);
    if (got.status === NfsStat3.NFS3_OK) assert.equal(got.text, 'old contents\n', 'what was fetched already, of the old version');
    f.memory.deleteSync('old.txt');
    const again = await readAll(f, file);
    if (again.status === NfsStat3.NFS3_OK) assert.equal(again.text, 'old contents\n', 'even once the object is gone');
    return again.status === NfsStat3.NFS3_OK ? got.status : again.status;
  },

  '`GETATTR` and `READ` after another client replaced an object already read': async (f) => {
    const file = await lookup(f, f.root, 'old.txt');
    assert.equal((await readAll(f, file)).text, 'old contents\n');
    f.memory.putSync('old.txt', 'a newer, longer version\n');
    const attrs = await call(f, P.GETATTR, { object: file });
    if (attrs.status !== NfsStat3.NFS3_OK) return attrs.status;
    const got = await readAll(f, file);
    if (got.status === NfsStat3.NFS3_OK) assert.equal(got.text, 'a newer, longer version\n', 'the version GETATTR saw');
    return got.status;
  },

  '`GETATTR` of an object another client deleted since the `LOOKUP`': async (f) => {
    const file = await lookup(f, f.root, 'old.txt');
    f.memory.deleteSync('old.txt');
    return (await call(f, P.GETATTR, { object: file })).status;
  },

  // ---- new files and directories -------------------------------------------------------------
  '`CREATE` and `WRITE` of a new file': async (f) => {
    const made = await create(f, f.root, 'new.txt');
    if (!made.handle) return made.status;
    const status = await write(f, made.handle, 0n, Buffer.from('hi\n'));
    if (status === NfsStat3.NFS3_OK) {
      assert.equal((await readAll(f, made.handle)).text, 'hi\n', 'read-your-writes before publishing');
      assertObject(f, 'new.txt', undefined);
      await f.exported.flush();
      assertObject(f, 'new.txt', 'hi\n');
    }
    return status;
  },

  '`CREATE` and `SETATTR` of times of a new file': async (f) => {
    const made = await create(f, f.root, 'empty.txt');
    if (!made.handle) return made.status;
    const res = await call(f, P.SETATTR, {
      object: made.handle,
      newAttributes: sattr({ atime: { how: TimeHow.SET_TO_SERVER_TIME }, mtime: { how: TimeHow.SET_TO_SERVER_TIME } }),
      guard: undefined,
    });
    if (res.status === NfsStat3.NFS3_OK) {
      await f.exported.flush();
      assertObject(f, 'empty.txt', '');
    }
    return res.status;
  },

  '`CREATE` EXCLUSIVE of an existing name': async (f) => {
    const res = await call(f, P.CREATE, {
      where: { dir: f.root, name: 'old.txt' },
      how: { mode: CreateMode3.EXCLUSIVE, verf: Buffer.alloc(8, 7) },
    });
    return res.status;
  },

  '`CREATE` of a file whose key would be over 1,024 bytes': async (f) => {
    let dir = f.root;
    for (let depth = 0; depth < 4; depth++) {
      const made = mustSucceed('MKDIR', await call(f, P.MKDIR, { where: { dir, name: 'd'.repeat(250) }, attributes: emptySattr3() }));
      dir = made.resok.obj!;
    }
    return (await create(f, dir, 'x'.repeat(30))).status;
  },

  '`MKDIR` of a new name': async (f) => {
    const res = await call(f, P.MKDIR, { where: { dir: f.root, name: 'made' }, attributes: emptySattr3() });
    if (res.status === NfsStat3.NFS3_OK) {
      assert.deepEqual(f.memory.keys().sort(), Object.keys(FIXTURE_OBJECTS).sort(), 'MKDIR writes nothing to S3');
    }
    return res.status;
  },

  '`MKDIR` of an existing directory': async (f) =>
    (await call(f, P.MKDIR, { where: { dir: f.root, name: 'sub' }, attributes: emptySattr3() })).status,

  '`WRITE` ending past 10,000 parts': async (f) => {
    const made = await create(f, f.root, 'huge.bin');
    if (!made.handle) return made.status;
    const partSize = f.exported.writePath!.partSize;
    return write(f, made.handle, BigInt(MAX_PARTS * partSize), Buffer.from('x'));
  },

  '`SETATTR` of a size past 10,000 parts': async (f) => {
    const made = await create(f, f.root, 'huge.bin');
    if (!made.handle) return made.status;
    const partSize = f.exported.writePath!.partSize;
    return setSize(f, made.handle, BigInt(MAX_PARTS * partSize + 1));
  },

  // ---- existing objects ----------------------------------------------------------------------
  '`SETATTR` of size 0 on an object': async (f) => {
    const file = await lookup(f, f.root, 'old.txt');
    const status = await setSize(f, file, 0n);
    if (status === NfsStat3.NFS3_OK) {
      assertObject(f, 'old.txt', 'old contents\n');
      await f.exported.flush();
      assertObject(f, 'old.txt', '');
    }
    return status;
  },

  '`SETATTR` of a size other than 0 on an object': async (f) => setSize(f, await lookup(f, f.root, 'old.txt'), 5n),

  '`WRITE` from offset 0 over all of an object': async (f) => {
    const file = await lookup(f, f.root, 'old.txt');
    const status = await write(f, file, 0n, Buffer.from('old contents\nmore\n'));
    if (status === NfsStat3.NFS3_OK) {
      await f.exported.flush();
      assertObject(f, 'old.txt', 'old contents\nmore\n');
    }
    return status;
  },

  '`WRITE` at the end of an object': async (f) => write(f, await lookup(f, f.root, 'old.txt'), 13n, Buffer.from('more\n')),

  '`WRITE` at the end of a file this server published less than a minute ago': async (f) => {
    const file = await newFile(f, 'log.txt', 'one\n');
    await f.exported.flush();
    assertObject(f, 'log.txt', 'one\n');
    const status = await write(f, file, 4n, Buffer.from('two\n'));
    if (status === NfsStat3.NFS3_OK) {
      await f.exported.flush();
      assertObject(f, 'log.txt', 'one\ntwo\n');
    }
    return status;
  },

  '`SETATTR` of times on an object': async (f) => {
    const file = await lookup(f, f.root, 'old.txt');
    const res = await call(f, P.SETATTR, {
      object: file,
      newAttributes: sattr({ atime: { how: TimeHow.SET_TO_SERVER_TIME }, mtime: { how: TimeHow.SET_TO_SERVER_TIME } }),
      guard: undefined,
    });
    return res.status;
  },

  '`SETATTR` of a mode other than `--file-mode`': async (f) =>
    (await call(f, P.SETATTR, { object: await lookup(f, f.root, 'old.txt'), newAttributes: sattr({ mode: 0o600 }), guard: undefined })).status,

  '`SETATTR` of the mode `--file-mode` gives': async (f) =>
    (await call(f, P.SETATTR, { object: await lookup(f, f.root, 'old.txt'), newAttributes: sattr({ mode: 0o644 }), guard: undefined })).status,

  '`SETATTR` of an owner other than `--uid`': async (f) =>
    (await call(f, P.SETATTR, { object: await lookup(f, f.root, 'old.txt'), newAttributes: sattr({ uid: 1000 }), guard: undefined })).status,

  // ---- removing ------------------------------------------------------------------------------
  '`REMOVE` of an object': async (f) => {
    const res = await call(f, P.REMOVE, { object: { dir: f.root, name: 'old.txt' } });
    assertObject(f, 'old.txt', res.status === NfsStat3.NFS3_OK ? undefined : 'old contents\n');
    return res.status;
  },

  '`REMOVE` of a file not yet published': async (f) => {
    await newFile(f, 'draft.txt', 'draft\n');
    const res = await call(f, P.REMOVE, { object: { dir: f.root, name: 'draft.txt' } });
    if (res.status === NfsStat3.NFS3_OK) {
      await f.exported.flush();
      assertObject(f, 'draft.txt', undefined);
    }
    return res.status;
  },

  '`RMDIR` of a directory made here, still empty': async (f) => {
    mustSucceed('MKDIR', await call(f, P.MKDIR, { where: { dir: f.root, name: 'made' }, attributes: emptySattr3() }));
    return (await call(f, P.RMDIR, { object: { dir: f.root, name: 'made' } })).status;
  },

  '`RMDIR` of a directory with objects under it': async (f) => (await call(f, P.RMDIR, { object: { dir: f.root, name: 'sub' } })).status,

  '`RMDIR` of a directory that is only a `dir/` marker object': async (f) => {
    const res = await call(f, P.RMDIR, { object: { dir: f.root, name: 'marker' } });
    assertObject(f, 'marker/', res.status === NfsStat3.NFS3_OK ? undefined : '');
    return res.status;
  },

  // ---- what S3 cannot hold -------------------------------------------------------------------
  '`RENAME`': async (f) =>
    (await call(f, P.RENAME, { from: { dir: f.root, name: 'old.txt' }, to: { dir: f.root, name: 'moved.txt' } })).status,

  '`SYMLINK`': async (f) =>
    (
      await call(f, P.SYMLINK, {
        where: { dir: f.root, name: 'link' },
        symlink: { symlinkAttributes: emptySattr3(), symlinkData: 'old.txt' },
      })
    ).status,

  '`LINK`': async (f) => (await call(f, P.LINK, { file: await lookup(f, f.root, 'old.txt'), link: { dir: f.root, name: 'hard' } })).status,

  '`MKNOD`': async (f) =>
    (await call(f, P.MKNOD, { where: { dir: f.root, name: 'fifo' }, what: { type: Ftype3.NF3FIFO, pipeAttributes: emptySattr3() } })).status,
};

const doc = readRepoFile('docs/semantics.md');

/** Long flags `s3nfs serve` has (the table may only name real ones). */
function serveLongFlags(): Set<string> {
  const y = serveFlags(yargs([])) as unknown as { getOptions(): { key: Record<string, unknown> } };
  return new Set(Object.keys(y.getOptions().key).filter((k) => k.length > 1));
}

function rowLabel(table: Table, row: string[]): string {
  return `docs/semantics.md table at line ${table.line}: ${row.join(' | ')}`;
}

test('docs/semantics.md: every row of the checked operations tables is what the server answers', async (t) => {
  const opTables = checkedTables(doc, 'operations');
  assert.ok(opTables.length > 0, 'docs/semantics.md has checked operation tables');
  const known = serveLongFlags();
  const used = new Set<string>();
  let rows = 0;
  for (const table of opTables) {
    const callCol = column(table, 'NFS call');
    const flagsCol = column(table, 'Flags');
    const replyCol = column(table, 'NFS reply');
    const seesCol = column(table, 'Application sees');
    for (const row of table.rows) {
      rows++;
      const label = rowLabel(table, row);
      const scenario = SCENARIOS[row[callCol]!];
      assert.ok(scenario, `${label}: the test has no scenario for "${row[callCol]}" (a row that is not checked belongs in another table)`);
      used.add(row[callCol]!);
      const { options, names } = parseFlags(codeSpans(row[flagsCol]!));
      for (const name of names) assert.ok(known.has(name), `${label}: --${name} is not a flag of s3nfs serve`);

      const [replyName] = codeSpans(row[replyCol]!);
      const expected = replyName === undefined ? undefined : STATUS_BY_NAME.get(replyName);
      assert.ok(expected !== undefined, `${label}: "${row[replyCol]}" names no nfsstat3`);

      // The errno column must be what Linux makes of the reply.
      const sees = row[seesCol]!;
      if (expected === NfsStat3.NFS3_OK) {
        assert.doesNotMatch(sees, /`E[A-Z]+`/, `${label}: a successful reply shows no errno`);
      } else {
        const errno = LINUX_ERRNO[replyName!];
        assert.ok(errno, `${label}: the test does not know which errno Linux makes of ${replyName}`);
        assert.equal(codeSpans(sees)[0], errno, `${label}: Linux turns ${replyName} into ${errno}`);
      }

      await t.test(`${row[callCol]} ${row[flagsCol]} → ${replyName}`, async () => {
        const f = await openFixture(options);
        try {
          const status = await scenario(f);
          assert.equal(
            status,
            expected,
            `${label}: the server answered ${[...STATUS_BY_NAME].find(([, v]) => v === status)?.[0] ?? status}`,
          );
        } finally {
          await f.close();
        }
      });
    }
  }
  assert.ok(rows >= 20, `only ${rows} checked rows`);
  const unused = Object.keys(SCENARIOS).filter((k) => !used.has(k));
  assert.deepEqual(unused, [], 'scenarios no row of docs/semantics.md uses (stale names?)');
});

// ---- keys → tree ---------------------------------------------------------------------------------

/** Decodes the escapes the keys table uses for characters Markdown cannot show: \0 and \uXXXX. */
function decodeKey(span: string): string {
  return span.replace(/\\0/g, '\0').replace(/\\u([0-9a-fA-F]{4})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Every path the file system shows, directories with a trailing '/', by READDIRPLUS from the root. */
async function tree(fs: FileSystem): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dirId: bigint, prefix: string): Promise<void> => {
    let cookie = 0n;
    let verifier = 0n;
    for (;;) {
      const page = await fs.readdir(dirId, { cookie, verifier, withAttributes: true, maxEntries: 50 });
      for (const e of page.entries) {
        if (e.name === '.' || e.name === '..') continue;
        if (e.attributes!.type === 'dir') {
          out.push(`${prefix}${e.name}/`);
          await walk(e.fileid, `${prefix}${e.name}/`);
        } else {
          out.push(`${prefix}${e.name}`);
        }
        // LOOKUP agrees with READDIR about what the name is.
        const looked = await fs.lookup(dirId, e.name);
        assert.equal(looked.attributes.type, e.attributes!.type, `LOOKUP ${prefix}${e.name}`);
      }
      if (page.eof) return;
      cookie = page.entries[page.entries.length - 1]!.cookie;
      verifier = page.verifier;
    }
  };
  await walk(fs.rootId, '');
  return out.sort();
}

test('docs/semantics.md: every row of the checked keys table is the tree the mount shows', async (t) => {
  const keyTables = checkedTables(doc, 'keys');
  assert.ok(keyTables.length > 0, 'docs/semantics.md has a checked keys table');
  for (const table of keyTables) {
    const keysCol = column(table, 'Keys in the bucket');
    const showsCol = column(table, 'The mount shows');
    for (const row of table.rows) {
      const keys = codeSpans(row[keysCol]!).map(decodeKey);
      const shows = codeSpans(row[showsCol]!).map(decodeKey).sort();
      assert.ok(keys.length > 0, `${rowLabel(table, row)}: no keys`);
      if (shows.length === 0) assert.match(row[showsCol]!, /nothing/i, `${rowLabel(table, row)}: say "nothing" for an empty tree`);
      await t.test(keys.join(', '), async () => {
        const memory = new MemoryObjectStore();
        for (const key of keys) memory.putSync(key, 'x');
        const handles = await HandleStore.open({ bucket: 'bucket', prefix: '' });
        try {
          const fs = new S3FileSystem({ store: memory, handles });
          assert.deepEqual(await tree(fs), shows, rowLabel(table, row));
        } finally {
          await handles.close();
        }
      });
    }
  }
});
