// "Mount a bucket and read it", end to end: a bucket in Ceph RGW seeded with nested prefixes, a directory of
// 1,100 keys, a 200 MiB object, empty objects and odd or invalid names; s3nfs serves it read-only and the
// Linux kernel client (UML) and libnfs read it. Everything they see is compared with a reference model of
// the namespace (test/e2e/support/tree-model.ts) and with what S3 holds: the tree, sizes, mtimes, every
// file's sha256, byte ranges of the big object, statfs, EROFS for changes, a prefix export, and a server
// restart under the mount with no stale handle.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { describeRun, repoRoot, runInGuest, shellQuote, umlUnavailableReason } from './support/uml.js';
import type { GuestRunResult } from './support/uml.js';
import {
  MiB,
  createBucket,
  deleteBucket,
  listObjects,
  patternSha256,
  s3Client,
  s3EnvFromProcess,
  seedObjects,
  uniqueBucketName,
} from './support/seed.js';
import type { ListedObject, SeededObject } from './support/seed.js';
import { BIG_KEY, BIG_SEED, BIG_SIZE, readSliceDataSet } from './support/read-slice-data.js';
import { childrenOf, expectedTree } from './support/tree-model.js';
import type { ModelTree } from './support/tree-model.js';

const s3 = s3EnvFromProcess();
const unavailable =
  umlUnavailableReason() ?? (s3 ? null : 'S3NFS_TEST_ENDPOINT is not set (run through scripts/test.sh)');

const NFS_PORT = 20490;
const MOUNT_OPTIONS = `vers=3,proto=tcp,port=${NFS_PORT},mountport=${NFS_PORT},mountproto=tcp,nolock`;
const PREFIX = 'nested/';

// ---- fixture: one bucket for the whole file ----------------------------------------------------

interface Fixture {
  endpoint: string;
  client: S3Client;
  bucket: string;
  seeded: Map<string, SeededObject>;
  listed: Map<string, ListedObject>;
  stateRoot: string;
}

let fx: Fixture | undefined;

before(async () => {
  if (unavailable || !s3) return;
  const client = s3Client(s3);
  const bucket = uniqueBucketName('read');
  await createBucket(client, bucket);
  const stateRoot = await mkdtemp(path.join(tmpdir(), 's3nfs-e2e-read-state-'));
  fx = { endpoint: s3.endpoint, client, bucket, seeded: new Map(), listed: new Map(), stateRoot };
  for (const o of await seedObjects(client, bucket, readSliceDataSet())) fx.seeded.set(o.key, o);
  for (const o of await listObjects(client, bucket)) fx.listed.set(o.key, o);
});

after(async () => {
  if (!fx) return;
  await deleteBucket(fx.client, fx.bucket).catch(() => undefined);
  fx.client.destroy();
  await rm(fx.stateRoot, { recursive: true, force: true });
});

function fixture(): Fixture {
  assert.ok(fx, 'the bucket was not seeded');
  return fx;
}

/** The model's tree of the bucket (or of a prefix), from what S3 lists. */
function modelTree(f: Fixture, prefix = ''): ModelTree {
  return expectedTree([...f.listed.values()], prefix);
}

// ---- running s3nfs and the guest ---------------------------------------------------------------

interface GuestCheckOptions {
  target: string; // BUCKET or BUCKET/PREFIX/
  exportPath: string;
  checks: string[];
  libnfsCat?: string[];
  stateDir: string;
}

async function runChecks(f: Fixture, o: GuestCheckOptions): Promise<GuestRunResult> {
  const serve = [
    'bash', 'test/e2e/support/restartable-server.sh', String(NFS_PORT),
    './bin/s3nfs', 'serve', o.target,
    '--endpoint-url', f.endpoint,
    '--port', String(NFS_PORT),
    '--state-dir', o.stateDir,
    '--insecure',
    '--read-only',
  ].map(shellQuote);
  const guestScript = await readFile(path.join(repoRoot, 'test/e2e/support/read-slice-guest.sh'), 'utf8');
  // S3NFS_E2E_KEEP=DIR keeps each run's logs and files in DIR/<target>.
  const keepRoot = process.env['S3NFS_E2E_KEEP'];
  const keep = keepRoot ? path.join(keepRoot, o.target.replace(/\W+/g, '-')) : undefined;
  if (keep) await mkdir(keep, { recursive: true });
  // %b in the guest turns "\0" into NUL and "\\" into one backslash.
  const catList = (o.libnfsCat ?? []).map((p) => p.replaceAll('\\', '\\\\') + '\\0').join('');
  return runInGuest({
    serverCommand: `${serve.join(' ')} --listen "$UML_HOST_ADDR" --allow-client "$UML_GUEST_ADDR"`,
    serverEnv: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    s3Endpoint: f.endpoint,
    mount: { export: o.exportPath, options: MOUNT_OPTIONS },
    guestScript,
    guestEnv: {
      CHECKS: o.checks.join(' '),
      EXPORT_PATH: o.exportPath,
      NFS_PORT: String(NFS_PORT),
      BIG: o.target.includes('/') ? '' : BIG_KEY,
      BIG_SIZE: String(BIG_SIZE),
      LIBNFS_CAT: catList,
    },
    guestMem: '512M',
    timeoutMs: 150_000,
    ...(keep ? { keepResultsIn: keep } : {}),
  });
}

// ---- parsing what the guest wrote --------------------------------------------------------------

interface SeenEntry {
  /** 'dir', 'file', or 'type X' for anything else find reports. */
  kind: string;
  size: number;
  mtime: number;
}

function file(r: GuestRunResult, name: string): string {
  const b = r.files.get(name);
  assert.ok(b, `the guest wrote no ${name}\n${describeRun(r)}`);
  return b.toString('utf8');
}

function nulRecords(s: string): string[] {
  return s.split('\0').filter((x) => x !== '');
}

/** `find -printf '%y\t%s\t%T@\t%P\0'` → path → entry. */
function parseFind(s: string): Map<string, SeenEntry> {
  const out = new Map<string, SeenEntry>();
  for (const rec of nulRecords(s)) {
    const [y, size, mtime, ...rest] = rec.split('\t');
    const kind = y === 'd' ? 'dir' : y === 'f' ? 'file' : `type ${y}`;
    out.set(rest.join('\t'), { kind, size: Number(size), mtime: Number(mtime) });
  }
  return out;
}

/** `sha256sum -z` output → path (without ./) → digest. */
function parseSums(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rec of nulRecords(s)) {
    const m = /^([0-9a-f]{64}) [ *]\.\/(.*)$/s.exec(rec);
    assert.ok(m, `unexpected sha256sum record ${JSON.stringify(rec)}`);
    out.set(m[2]!, m[1]!);
  }
  return out;
}

/** Paths only in `want`, only in `got`, each shown with JSON escapes so odd names are readable. */
function treeDiff(want: Iterable<string>, got: Iterable<string>): string {
  const w = new Set(want);
  const g = new Set(got);
  const missing = [...w].filter((p) => !g.has(p)).map((p) => JSON.stringify(p));
  const extra = [...g].filter((p) => !w.has(p)).map((p) => JSON.stringify(p));
  return `missing (${missing.length}): ${missing.slice(0, 20).join(', ')}\nextra (${extra.length}): ${extra.slice(0, 20).join(', ')}`;
}

function objectOf(f: Fixture, tree: ModelTree, p: string): ListedObject & SeededObject {
  const entry = tree.get(p);
  assert.ok(entry && entry.kind === 'file', `${p} is not a file in the model`);
  const listed = f.listed.get(entry.key);
  const seeded = f.seeded.get(entry.key);
  assert.ok(listed && seeded, `no object for ${entry.key}`);
  return { ...listed, ...seeded };
}

/** The tree, sizes, mtimes (whole seconds: HEAD's Last-Modified has no fraction) and contents. */
function checkTreeAndContents(f: Fixture, r: GuestRunResult, model: ModelTree): void {
  assert.equal(file(r, 'find.rc').trim(), '0', `find failed: ${r.files.get('find.err')?.toString()}`);
  const seen = parseFind(file(r, 'find'));
  assert.deepEqual([...seen.keys()].sort(), [...model.keys()].sort(), treeDiff(model.keys(), seen.keys()));
  const wrong: string[] = [];
  for (const [p, entry] of model) {
    const s = seen.get(p)!;
    if (s.kind !== entry.kind) wrong.push(`${JSON.stringify(p)}: ${s.kind}, want ${entry.kind}`);
    if (entry.kind !== 'file') continue;
    const obj = objectOf(f, model, p);
    if (s.size !== obj.size) wrong.push(`${JSON.stringify(p)}: size ${s.size}, want ${obj.size}`);
    const want = Math.floor(obj.lastModified.getTime() / 1000);
    if (Math.floor(s.mtime) !== want) wrong.push(`${JSON.stringify(p)}: mtime ${s.mtime}, want ${want} (S3 ${obj.lastModified.toISOString()})`);
  }
  assert.deepEqual(wrong, [], 'kind, size or mtime differ from S3');

  assert.equal(file(r, 'sums.rc').trim(), '0', `reading files failed: ${r.files.get('sums.err')?.toString()}`);
  const sums = parseSums(file(r, 'sums'));
  const files = [...model].filter(([, e]) => e.kind === 'file').map(([p]) => p);
  assert.deepEqual([...sums.keys()].sort(), files.sort(), treeDiff(files, sums.keys()));
  const differ = files.filter((p) => sums.get(p) !== objectOf(f, model, p).sha256);
  assert.deepEqual(differ, [], 'files whose content differs from the object');
}

interface LsRow {
  type: string;
  size: number;
  mtime: number;
}

/** `ls -lan --time-style=+%s DIR` → name → type letter, size, mtime (names here hold no newline). */
function parseLs(listing: string): Map<string, LsRow> {
  const rows = new Map<string, LsRow>();
  for (const line of listing.split('\n')) {
    const m = /^(\S)\S*\s+\d+\s+\d+\s+\d+\s+(\d+)\s+(\d+) (.*)$/.exec(line);
    if (!m || m[4] === '.' || m[4] === '..') continue;
    rows.set(m[4]!, { type: m[1]!, size: Number(m[2]), mtime: Number(m[3]) });
  }
  return rows;
}

/**
 * `nfs-ls -R URL`: one line per entry, `MODE NLINK UID GID SIZE PATH`, PATH relative to the URL and
 * printed raw, so a line that does not start like an entry continues the previous name (a newline in it).
 */
function parseNfsLs(listing: string): Map<string, { type: string; size: number }> {
  const out = new Map<string, { type: string; size: number }>();
  let last: { path: string; type: string; size: number } | undefined;
  const flush = (): void => {
    if (last) out.set(last.path, { type: last.type, size: last.size });
  };
  for (const line of listing.replace(/\n$/, '').split('\n')) {
    const m = /^([-dl])[-rwxsStT]{9}\s+\d+\s+\d+\s+\d+\s+(\d+) (.*)$/.exec(line);
    if (m) {
      flush();
      last = { type: m[1]!, size: Number(m[2]), path: m[3]! };
    } else if (last) {
      last.path += `\n${line}`;
    }
  }
  flush();
  return out;
}

function checkNfsLs(f: Fixture, model: ModelTree, listing: string): void {
  const seen = parseNfsLs(listing);
  assert.deepEqual([...seen.keys()].sort(), [...model.keys()].sort(), treeDiff(model.keys(), seen.keys()));
  const wrong: string[] = [];
  for (const [p, entry] of model) {
    const s = seen.get(p)!;
    if (s.type !== (entry.kind === 'dir' ? 'd' : '-')) wrong.push(`${JSON.stringify(p)}: type ${s.type}`);
    if (entry.kind === 'file' && s.size !== objectOf(f, model, p).size) wrong.push(`${JSON.stringify(p)}: size ${s.size}`);
  }
  assert.deepEqual(wrong, [], 'nfs-ls entries that differ from the model');
}

// ---- the tests ---------------------------------------------------------------------------------

test('the kernel client reads a bucket: tree, sizes, mtimes, contents, ranges, statfs, EROFS, libnfs, restart', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const f = fixture();
  const model = modelTree(f);
  const catPaths = ['readme.txt', 'empty', 'nested/a/b/c/deep.txt', 'many/f01099', 'odd/with space.txt',
    'odd/ünïcödé-日本語.txt', 'odd/100%.txt', 'odd/a+b=c&d.txt', 'odd/emoji-😀.txt'];
  const r = await runChecks(f, {
    target: f.bucket,
    exportPath: `/${f.bucket}`,
    checks: ['tree', 'ranges', 'writes', 'libnfs', 'restart'],
    libnfsCat: catPaths,
    stateDir: path.join(f.stateRoot, 'whole-bucket'),
  });
  assert.equal(r.outcome, 'ok', describeRun(r));
  assert.equal(r.exitCode, 0, describeRun(r));
  t.diagnostic(`boot to mount ${r.timingsMs.bootToMount} ms, guest script ${r.timingsMs.script} ms, run ${r.timingsMs.total} ms`);

  await t.test('find lists exactly the model tree; sizes and mtimes match S3; every sha256 matches', () => {
    checkTreeAndContents(f, r, model);
  });

  await t.test('ls -l shows the sizes and mtimes of S3 (root and the 1,100-key directory)', () => {
    for (const [name, dir] of [['ls-root', ''], ['ls-many', 'many']] as const) {
      const rows = parseLs(file(r, name));
      const want = childrenOf(model, dir);
      assert.deepEqual([...rows.keys()].sort(), [...want.keys()].sort(), treeDiff(want.keys(), rows.keys()));
      for (const [n, entry] of want) {
        const row = rows.get(n)!;
        assert.equal(row.type, entry.kind === 'dir' ? 'd' : '-', `${dir}/${n}`);
        if (entry.kind !== 'file') continue;
        const obj = objectOf(f, model, dir === '' ? n : `${dir}/${n}`);
        assert.equal(row.size, obj.size, `${dir}/${n} size`);
        assert.equal(row.mtime, Math.floor(obj.lastModified.getTime() / 1000), `${dir}/${n} mtime`);
      }
    }
  });

  await t.test('a file shows the same mtime whether the client got it from READDIRPLUS or GETATTR', () => {
    const rows = nulRecords(file(r, 'mtimes')).map((rec) => {
      const [fromListing, fromGetattr, ...p] = rec.split(' ');
      return { path: p.join(' '), fromListing, fromGetattr };
    });
    assert.equal(rows.length, 4, 'files checked');
    const flapping = rows.filter((row) => row.fromListing !== row.fromGetattr);
    assert.deepEqual(flapping, [], 'mtime changed between the directory listing and GETATTR');
  });

  await t.test('stat -f reports an NFS file system with 255-byte names and room to spare', () => {
    const line = file(r, 'statfs').trim();
    const [type, bsize, fbsize, blocks, bfree, bavail, files, ffree, namelen] = line.split(' ');
    assert.equal(type, 'nfs', line);
    assert.equal(namelen, '255', line);
    const total = Number(blocks) * Number(fbsize);
    assert.ok(total >= 2 ** 40, `total size ${total} bytes is under 1 TiB: ${line}`);
    assert.ok(Number(bfree) > 0 && Number(bavail) > 0 && Number(bsize) > 0, line);
    assert.ok(Number(files) > 0 && Number(ffree) > 0, line);
  });

  await t.test('dd reads ranges from the middle and the end of the 200 MiB object', () => {
    const want: Record<string, [number, number]> = {
      mib: [100 * MiB, 107 * MiB],
      unaligned: [123456789, 123456789 + 3000001],
      tail: [BIG_SIZE - 1000, BIG_SIZE],
      'past-eof': [BIG_SIZE, BIG_SIZE],
    };
    const got = new Map(
      file(r, 'ranges').trim().split('\n').map((l) => {
        const [name, rc, size, sum] = l.split(' ');
        return [name!, { rc: Number(rc), size: Number(size), sum }] as const;
      }),
    );
    for (const [name, [start, end]] of Object.entries(want)) {
      const g = got.get(name);
      assert.ok(g, `no result for range ${name}`);
      assert.equal(g.rc, 0, `dd ${name}: ${r.files.get(`range-${name}.err`)?.toString()}`);
      assert.equal(g.size, end - start, `range ${name} length`);
      assert.equal(g.sum, patternSha256(BIG_SEED, start, end), `range ${name} content`);
    }
  });

  await t.test('changes on a --read-only export fail with EROFS and change nothing', () => {
    const rows = file(r, 'writes').trim().split('\n').map((l) => l.split('\t'));
    const byLabel = new Map(rows.map(([label, rc, err]) => [label!, { rc: Number(rc), err: err ?? '' }]));
    const problems: string[] = [];
    const expect = (label: string, errors: RegExp): void => {
      const row = byLabel.get(label);
      if (!row) problems.push(`${label}: not attempted`);
      else if (row.rc === 0) problems.push(`${label}: succeeded`);
      else if (!errors.test(row.err)) problems.push(`${label}: ${row.err.trim()} (want ${errors.source})`);
    };
    // Calls that change the namespace or attributes reach the server, which answers ROFS.
    for (const label of ['create', 'touch-new', 'mkdir', 'rm', 'rmdir', 'mv', 'symlink', 'touch-h', 'chmod']) {
      expect(label, /Read-only file system/);
    }
    // Opening an existing file for writing fails earlier: the client asks ACCESS at open, and a read-only
    // export grants no MODIFY/EXTEND (as knfsd does for a read-only export), so open() says EACCES.
    for (const label of ['touch-existing', 'truncate', 'append', 'overwrite']) {
      expect(label, /Read-only file system|Permission denied/);
    }
    assert.deepEqual(problems, [], 'changes that did not fail as they should');
    const after = nulRecords(file(r, 'after-writes'));
    const readme = objectOf(f, model, 'readme.txt');
    const big = objectOf(f, model, BIG_KEY);
    assert.ok(after.includes(`${readme.sha256}  readme.txt`), `readme.txt changed: ${after.slice(0, 2).join(' | ')}`);
    assert.ok(after.includes(`${big.sha256}  ${BIG_KEY}`), `${BIG_KEY} changed: ${after.slice(0, 2).join(' | ')}`);
    const names = new Set(after.slice(2));
    for (const n of ['new-file', 'new-dir', 'renamed.txt', 'new-link']) assert.ok(!names.has(n), `${n} exists`);
  });

  await t.test('libnfs (nfs-ls -R, nfs-cat) sees the same tree and contents', () => {
    assert.equal(file(r, 'nfs-ls.rc').trim(), '0', `nfs-ls failed: ${r.files.get('nfs-ls.err')?.toString()}`);
    checkNfsLs(f, model, file(r, 'nfs-ls'));
    const cats = nulRecords(file(r, 'nfs-cat')).map((rec) => rec.split('\t'));
    assert.equal(cats.length, catPaths.length, 'nfs-cat results');
    for (const [rc, sum, p] of cats) {
      assert.equal(rc, '0', `nfs-cat ${p}`);
      assert.equal(sum, objectOf(f, model, p!).sha256, `nfs-cat ${p} content`);
    }
  });

  await t.test('a server restart under the mount: held directory and open files work, no ESTALE', () => {
    assert.ok(r.files.has('server-restarted-1'), `the server was not restarted\n${describeRun(r)}`);
    assert.equal((r.serverLog.match(/^s3nfs: listening on /gm) ?? []).length, 2, 'two server starts in the log');
    const all = `${file(r, 'restart')}${r.files.get('restart.err')?.toString() ?? ''}`;
    assert.doesNotMatch(all, /Stale file handle|ESTALE/i);
    const parts = all.split('\0');
    const section = (name: string): string => parts[parts.indexOf(name) + 1] ?? '';
    const cwdWant = [...childrenOf(model, 'nested/a/b/c')].map(([n, e]) =>
      e.kind === 'dir' ? `d ${n}` : `f ${objectOf(f, model, `nested/a/b/c/${n}`).size} ${n}`);
    const cwdSeen = section('cwd-listing').trim().split('\n').map((l) => l.replace(/^d \d+ /, 'd ').replace(/^f /, 'f '));
    assert.deepEqual(cwdSeen.sort(), cwdWant.sort(), 'listing of the directory held across the restart');
    assert.match(section('fd-deep'), new RegExp(`^${objectOf(f, model, 'nested/a/b/c/deep.txt').sha256}`));
    assert.match(section('fd-many'), new RegExp(`^${objectOf(f, model, 'many/f00500').sha256}`));
    assert.match(section('fd-big-range'), new RegExp(`^${patternSha256(BIG_SEED, 50 * MiB, 52 * MiB)}`));
    const stats = section('stat').trim().split('\n');
    const wantStat = [
      ['nested/a/b/c/deep.txt', 'deep.txt'],
      ['nested/a/sibling.bin', '../../sibling.bin'],
    ].map(([p, shown]) => {
      const o = objectOf(f, model, p!);
      return `${o.size} ${Math.floor(o.lastModified.getTime() / 1000)} ${shown}`;
    });
    assert.deepEqual(stats.slice(0, 2), wantStat);
    assert.equal(Number(section('root-count').trim()), model.size, 'entries under the mount after the restart');
  });
});

test('a prefix export shows exactly the keys under the prefix, through the kernel client and libnfs', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const f = fixture();
  const model = modelTree(f, PREFIX);
  const r = await runChecks(f, {
    target: `${f.bucket}/${PREFIX}`,
    exportPath: `/${f.bucket}/${PREFIX.replace(/\/$/, '')}`,
    checks: ['tree', 'libnfs'],
    stateDir: path.join(f.stateRoot, 'prefix'),
  });
  assert.equal(r.outcome, 'ok', describeRun(r));
  assert.equal(r.exitCode, 0, describeRun(r));
  checkTreeAndContents(f, r, model);
  assert.equal(file(r, 'nfs-ls.rc').trim(), '0', `nfs-ls failed: ${r.files.get('nfs-ls.err')?.toString()}`);
  checkNfsLs(f, model, file(r, 'nfs-ls'));
});
