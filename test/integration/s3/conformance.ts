// One suite of S3 behaviours the file system relies on, run against every ObjectStore: the SDK
// store on a real server and the in-memory store. The expectations are AWS S3's documented
// behaviour; a target that differs fails here, which is how we learn where the memory store is
// not a faithful stand-in or where a server needs a workaround.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { multipartEtag } from '../../../src/s3/memory-store.js';
import {
  ObjectStoreError,
  type ListPage,
  type ListRequest,
  type ObjectStore,
  type ObjectStoreErrorKind,
} from '../../../src/s3/object-store.js';

export interface ConformanceTarget {
  name: string;
  /** A store, or a reason to skip the suite (e.g. no S3 server configured). */
  open(): Promise<ObjectStore | string>;
  close?(store: ObjectStore): Promise<void>;
}

const MiB = 1024 * 1024;
const PART = 5 * MiB; // S3's minimum size for every part but the last

export function md5Etag(data: Buffer | string): string {
  return `"${createHash('md5').update(data).digest('hex')}"`;
}

export async function expectError(
  promise: Promise<unknown>,
  kind: ObjectStoreErrorKind,
  code?: string,
): Promise<ObjectStoreError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ObjectStoreError, `expected an ObjectStoreError ${kind}, got ${String(caught)}`);
  assert.equal(caught.kind, kind, `kind of: ${caught.message}`);
  if (code !== undefined) assert.equal(caught.code, code, `code of: ${caught.message}`);
  return caught;
}

/** Every page of a listing, as [entries, truncated] with entries marked K: (key) or P: (prefix). */
async function pages(store: ObjectStore, req: ListRequest): Promise<string[][]> {
  const out: string[][] = [];
  let token: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const page: ListPage = await store.list(token === undefined ? req : { ...req, continuationToken: token });
    out.push(entries(page, req.prefix));
    token = page.nextToken;
    if (token === undefined) return out;
  }
  throw new Error('listing did not end');
}

/** A page's keys and prefixes in listing order, relative to the test prefix. */
function entries(page: ListPage, base: string): string[] {
  const all = [
    ...page.objects.map((o) => ({ s: o.key, tag: 'K:' })),
    ...page.prefixes.map((p) => ({ s: p, tag: 'P:' })),
  ];
  all.sort((a, b) => Buffer.compare(Buffer.from(a.s), Buffer.from(b.s)));
  return all.map((e) => e.tag + e.s.slice(base.length));
}

/** What S3 returns in total for these keys: the reference for listing tests. */
function model(keys: string[], prefix: string, delimiter?: string, startAfter?: string): string[] {
  const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  const seen = new Set<string>();
  const out: { s: string; tag: string }[] = [];
  for (const key of [...keys].sort(cmp)) {
    if (!key.startsWith(prefix) || (startAfter !== undefined && cmp(key, startAfter) <= 0)) continue;
    const cut = delimiter === undefined ? -1 : key.indexOf(delimiter, prefix.length);
    const entry = cut >= 0 ? { s: key.slice(0, cut + delimiter!.length), tag: 'P:' } : { s: key, tag: 'K:' };
    // A common prefix, like a key, is listed only if it sorts after StartAfter.
    if (startAfter !== undefined && cmp(entry.s, startAfter) <= 0) continue;
    if (seen.has(entry.tag + entry.s)) continue;
    seen.add(entry.tag + entry.s);
    out.push(entry);
  }
  return out.map((e) => e.tag + e.s);
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out.length === 0 ? [[]] : out;
}

export function defineConformanceSuite(target: ConformanceTarget): void {
  describe(`ObjectStore conformance: ${target.name}`, () => {
    let store: ObjectStore;
    let skipReason: string | undefined;
    // Every test works under its own prefix, so runs can share one bucket.
    const root = `conformance-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}/`;
    let n = 0;
    const space = () => `${root}t${n++}/`;

    before(async () => {
      const opened = await target.open();
      if (typeof opened === 'string') skipReason = opened;
      else store = opened;
    });

    after(async () => {
      if (skipReason !== undefined) return;
      for (const upload of await store.listMultipartUploads(root)) {
        await store.abortMultipartUpload(upload.key, upload.uploadId).catch(() => undefined);
      }
      let token: string | undefined;
      do {
        const page = await store.list(token === undefined ? { prefix: root } : { prefix: root, continuationToken: token });
        await Promise.all(page.objects.map((o) => store.delete(o.key)));
        token = page.nextToken;
      } while (token !== undefined);
      await target.close?.(store);
    });

    /** Declares a test that is skipped with the target's reason when there is no store. */
    const it = (name: string, body: (p: string) => Promise<void>) =>
      test(name, async (t) => {
        if (skipReason !== undefined) {
          t.skip(skipReason);
          return;
        }
        await body(space());
      });

    it('checkBucket succeeds on the configured bucket', async () => {
      await store.checkBucket();
    });

    it('PUT, then HEAD, GET and LIST agree on size, quoted-MD5 ETag and lastModified', async (p) => {
      const body = Buffer.from('hello, object');
      const put = await store.put({ key: p + 'obj', body });
      assert.equal(put.etag, md5Etag(body));
      const head = await store.head(p + 'obj');
      assert.ok(head);
      assert.equal(head.key, p + 'obj');
      assert.equal(head.size, body.length);
      assert.equal(head.etag, put.etag);
      assert.equal(head.lastModified.getTime() % 1000, 0, 'HEAD reports whole seconds (an HTTP date)');
      assert.ok(Math.abs(head.lastModified.getTime() - Date.now()) < 5 * 60_000, 'lastModified is about now');
      const got = await store.get({ key: p + 'obj' });
      assert.deepEqual(got.body, body);
      assert.equal(got.etag, put.etag);
      assert.equal(got.size, body.length);
      assert.equal(got.lastModified.getTime(), head.lastModified.getTime());
      const listed = await store.list({ prefix: p });
      assert.equal(listed.objects.length, 1);
      const entry = listed.objects[0]!;
      assert.equal(entry.key, p + 'obj');
      assert.equal(entry.size, body.length);
      assert.equal(entry.etag, put.etag);
      assert.equal(Math.floor(entry.lastModified.getTime() / 1000) * 1000, head.lastModified.getTime());
    });

    it('HEAD of a missing key resolves undefined; GET of it is NotFound', async (p) => {
      assert.equal(await store.head(p + 'missing'), undefined);
      await expectError(store.get({ key: p + 'missing' }), 'NotFound');
    });

    it('overwriting a key replaces its content and ETag', async (p) => {
      await store.put({ key: p + 'k', body: Buffer.from('one') });
      const second = await store.put({ key: p + 'k', body: Buffer.from('two!') });
      const head = await store.head(p + 'k');
      assert.equal(head?.etag, second.etag);
      assert.equal(head?.size, 4);
      assert.equal((await store.get({ key: p + 'k' })).body.toString(), 'two!');
    });

    it('keys with unusual characters round-trip through PUT, GET and LIST', async (p) => {
      const names = [
        'a b',
        'a+b',
        'a%b',
        'a%2Fb',
        'x\u0001y',
        'tab\there',
        'new\nline',
        'é',
        '\u{1F600}',
        'a//b',
        'ends/',
        'q?x#y&z=1',
        "~!*()'",
        ' lead',
        'dot/./x',
        'dot/../x',
        '<xml>&amp;',
      ];
      for (const name of names) await store.put({ key: p + name, body: Buffer.from(name) });
      for (const name of names) {
        assert.equal((await store.get({ key: p + name })).body.toString(), name, `GET ${JSON.stringify(name)}`);
        assert.equal((await store.head(p + name))?.size, Buffer.byteLength(name), `HEAD ${JSON.stringify(name)}`);
      }
      const all = (await pages(store, { prefix: p })).flat();
      assert.deepEqual(all, model(names.map((k) => p + k), p).map((e) => e.slice(0, 2) + e.slice(2 + p.length)));
    });

    it('listing is in UTF-8 byte order ("a-" < "a/" < "a0"; U+FFFD < U+1F600)', async (p) => {
      const names = ['a0', 'a/b', 'a-', 'a', 'A', 'a\u0001', '\u{1F600}', '\uFFFD', 'é', 'z', '_'];
      for (const name of names) await store.put({ key: p + name, body: Buffer.alloc(0) });
      const listed = (await store.list({ prefix: p })).objects.map((o) => o.key.slice(p.length));
      assert.deepEqual(listed, ['A', '_', 'a', 'a\u0001', 'a-', 'a/b', 'a0', 'z', 'é', '\uFFFD', '\u{1F600}']);
    });

    it('a delimiter rolls keys into common prefixes that sort among the keys', async (p) => {
      const names = ['a-', 'a/b', 'a/c/d', 'a0', 'a//x', 'b', 'dir/', 'dir/f'];
      for (const name of names) await store.put({ key: p + name, body: Buffer.from('x') });
      const top = await store.list({ prefix: p, delimiter: '/' });
      assert.deepEqual(entries(top, p), ['K:a-', 'P:a/', 'K:a0', 'K:b', 'P:dir/']);
      assert.equal(top.nextToken, undefined);
      const a = await store.list({ prefix: p + 'a/', delimiter: '/' });
      assert.deepEqual(entries(a, p), ['P:a//', 'K:a/b', 'P:a/c/']);
      const dir = await store.list({ prefix: p + 'dir/', delimiter: '/' });
      assert.deepEqual(entries(dir, p), ['K:dir/', 'K:dir/f']);
      // A prefix that is not a directory name matches as a plain string prefix.
      const partial = await store.list({ prefix: p + 'a', delimiter: '/' });
      assert.deepEqual(entries(partial, p), ['K:a-', 'P:a/', 'K:a0']);
    });

    it('MaxKeys pages count keys and common prefixes and end exactly (no empty last page)', async (p) => {
      const names = ['d1/x', 'd1/y', 'd2/z', 'e', 'f', 'g/h/i', 'g/j', 'k', 'l/', 'm'];
      for (const name of names) await store.put({ key: p + name, body: Buffer.from('x') });
      const keys = names.map((k) => p + k);
      for (const delimiter of [undefined, '/']) {
        for (const maxKeys of [1, 2, 3, 4, 7, 100]) {
          const req: ListRequest = { prefix: p, maxKeys };
          if (delimiter !== undefined) req.delimiter = delimiter;
          const got = await pages(store, req);
          const expected = chunk(model(keys, p, delimiter).map((e) => e.slice(0, 2) + e.slice(2 + p.length)), maxKeys);
          assert.deepEqual(got, expected, `delimiter ${String(delimiter)}, maxKeys ${maxKeys}`);
        }
      }
    });

    it('StartAfter skips keys up to and including it, also inside a common prefix', async (p) => {
      const names = ['a', 'b/1', 'b/2', 'c'];
      for (const name of names) await store.put({ key: p + name, body: Buffer.from('x') });
      const rel = (page: ListPage) => entries(page, p);
      assert.deepEqual(rel(await store.list({ prefix: p, startAfter: p + 'a' })), ['K:b/1', 'K:b/2', 'K:c']);
      assert.deepEqual(rel(await store.list({ prefix: p, startAfter: p + 'b/1' })), ['K:b/2', 'K:c']);
      // With a delimiter, a common prefix is listed only if it sorts after StartAfter (Ceph RGW does this;
      // it is what makes a V1-style marker equal to a returned prefix resume after that prefix).
      assert.deepEqual(rel(await store.list({ prefix: p, delimiter: '/', startAfter: p + 'b' })), ['P:b/', 'K:c']);
      assert.deepEqual(rel(await store.list({ prefix: p, delimiter: '/', startAfter: p + 'b/' })), ['K:c']);
      assert.deepEqual(rel(await store.list({ prefix: p, delimiter: '/', startAfter: p + 'b/1' })), ['K:c']);
      const keys = names.map((k) => p + k);
      for (const after of ['', 'a', 'b', 'b/', 'b/1', 'b/2', 'b0', 'c', 'd']) {
        assert.deepEqual(
          (await pages(store, { prefix: p, delimiter: '/', startAfter: p + after, maxKeys: 1 })).flat(),
          model(keys, p, '/', p + after).map((e) => e.slice(0, 2) + e.slice(2 + p.length)),
          `StartAfter ${after}`,
        );
      }
      assert.deepEqual(rel(await store.list({ prefix: p, startAfter: p + 'c' })), []);
      // A StartAfter before the prefix does not widen the listing.
      assert.deepEqual(rel(await store.list({ prefix: p + 'b/', startAfter: p })), ['K:b/1', 'K:b/2']);
    });

    it('an empty prefix listing of a missing "directory" is empty', async (p) => {
      const page = await store.list({ prefix: p + 'nothing/', delimiter: '/' });
      assert.deepEqual(page, { objects: [], prefixes: [] });
    });

    it('ranged GET: exact bytes, whole-object size, end clamped, start past the end is InvalidRange', async (p) => {
      const data = randomBytes(1000);
      const { etag } = await store.put({ key: p + 'r', body: data });
      const mid = await store.get({ key: p + 'r', range: { start: 100, end: 300 } });
      assert.deepEqual(mid.body, data.subarray(100, 300));
      assert.equal(mid.size, 1000);
      assert.equal(mid.etag, etag);
      const tail = await store.get({ key: p + 'r', range: { start: 990, end: 5000 } });
      assert.deepEqual(tail.body, data.subarray(990));
      const last = await store.get({ key: p + 'r', range: { start: 999, end: 1000 } });
      assert.deepEqual(last.body, data.subarray(999));
      await expectError(store.get({ key: p + 'r', range: { start: 1000, end: 1001 } }), 'InvalidRange');
      await expectError(store.get({ key: p + 'r', range: { start: 5000, end: 6000 } }), 'InvalidRange');
    });

    it('GET of an empty object: whole works, any range is InvalidRange', async (p) => {
      await store.put({ key: p + 'empty', body: Buffer.alloc(0) });
      const whole = await store.get({ key: p + 'empty' });
      assert.equal(whole.body.length, 0);
      assert.equal(whole.size, 0);
      assert.equal(whole.etag, md5Etag(''));
      await expectError(store.get({ key: p + 'empty', range: { start: 0, end: 1 } }), 'InvalidRange');
    });

    it('GET If-Match: the current ETag (quoted or bare) passes, another is PreconditionFailed', async (p) => {
      const { etag } = await store.put({ key: p + 'v', body: Buffer.from('version 1') });
      assert.equal((await store.get({ key: p + 'v', ifMatch: etag, range: { start: 0, end: 7 } })).body.toString(), 'version');
      assert.equal((await store.get({ key: p + 'v', ifMatch: etag.replaceAll('"', '') })).body.length, 9);
      await store.put({ key: p + 'v', body: Buffer.from('version 2') });
      await expectError(store.get({ key: p + 'v', ifMatch: etag, range: { start: 0, end: 7 } }), 'PreconditionFailed');
      await expectError(store.get({ key: p + 'v', ifMatch: etag }), 'PreconditionFailed');
    });

    it('create-only PUT (If-None-Match: *) fails when the key exists and leaves it alone', async (p) => {
      await store.put({ key: p + 'once', body: Buffer.from('first'), ifNoneMatch: true });
      await expectError(store.put({ key: p + 'once', body: Buffer.from('second'), ifNoneMatch: true }), 'PreconditionFailed');
      assert.equal((await store.get({ key: p + 'once' })).body.toString(), 'first');
    });

    it('DELETE removes a key and succeeds for a missing one', async (p) => {
      await store.put({ key: p + 'd', body: Buffer.from('x') });
      await store.delete(p + 'd');
      assert.equal(await store.head(p + 'd'), undefined);
      await store.delete(p + 'd');
      await store.delete(p + 'never-existed');
    });

    it('copy: same bytes and ETag; NotFound source; a stale source ETag is PreconditionFailed', async (p) => {
      const body = randomBytes(3000);
      const src = await store.put({ key: p + 'src', body });
      const copied = await store.copy(p + 'src', p + 'dst', src.etag);
      assert.equal(copied.etag, src.etag);
      assert.deepEqual((await store.get({ key: p + 'dst' })).body, body);
      assert.equal((await store.head(p + 'dst'))?.etag, src.etag);
      await expectError(store.copy(p + 'missing', p + 'dst2'), 'NotFound');
      await store.put({ key: p + 'src', body: Buffer.from('changed') });
      await expectError(store.copy(p + 'src', p + 'dst3', src.etag), 'PreconditionFailed');
      assert.equal(await store.head(p + 'dst3'), undefined);
    });

    it('copy onto itself without changes is refused', async (p) => {
      await store.put({ key: p + 'self', body: Buffer.from('x') });
      const err = await expectError(store.copy(p + 'self', p + 'self'), 'Other');
      assert.equal(err.code, 'InvalidRequest');
    });

    it('multipart: content, S3 multipart ETag, HEAD agrees, ranged GET across a part boundary', async (p) => {
      const key = p + 'big';
      const id = await store.createMultipartUpload(key);
      const bodies = [randomBytes(PART), randomBytes(PART), randomBytes(1234)];
      const parts = [];
      for (const [i, body] of bodies.entries()) {
        const part = await store.uploadPart(key, id, i + 1, body);
        assert.equal(part.partNumber, i + 1);
        assert.equal(part.etag, md5Etag(body));
        parts.push(part);
      }
      const done = await store.completeMultipartUpload(key, id, parts);
      assert.equal(done.etag, multipartEtag(parts.map((x) => x.etag)));
      const head = await store.head(key);
      assert.equal(head?.etag, done.etag);
      assert.equal(head?.size, 2 * PART + 1234);
      const all = Buffer.concat(bodies);
      assert.deepEqual((await store.get({ key })).body, all);
      const across = await store.get({ key, range: { start: PART - 10, end: PART + 10 }, ifMatch: done.etag });
      assert.deepEqual(across.body, all.subarray(PART - 10, PART + 10));
      assert.equal((await store.listMultipartUploads(p)).length, 0);
    });

    it('multipart: a re-uploaded part replaces the old one; part numbers may have gaps', async (p) => {
      const key = p + 'reupload';
      const id = await store.createMultipartUpload(key);
      const stale = await store.uploadPart(key, id, 1, Buffer.alloc(PART, 1));
      const p1 = await store.uploadPart(key, id, 1, Buffer.alloc(PART, 2));
      const p3 = await store.uploadPart(key, id, 3, Buffer.from('tail'));
      // The ETag of the replaced upload of part 1 no longer names a part.
      await expectError(store.completeMultipartUpload(key, id, [stale, p3]), 'Other', 'InvalidPart');
      await store.completeMultipartUpload(key, id, [p1, p3]);
      const got = (await store.get({ key })).body;
      assert.equal(got.length, PART + 4);
      assert.equal(got[0], 2);
      assert.equal(got.subarray(PART).toString(), 'tail');
    });

    it('multipart: leaving out an uploaded part either drops it (AWS) or is InvalidPart (Ceph RGW)', async (p) => {
      const key = p + 'subset';
      const id = await store.createMultipartUpload(key);
      const p1 = await store.uploadPart(key, id, 1, Buffer.alloc(PART, 1));
      await store.uploadPart(key, id, 2, Buffer.from('unused'));
      const p3 = await store.uploadPart(key, id, 3, Buffer.from('tail'));
      try {
        await store.completeMultipartUpload(key, id, [p1, p3]);
      } catch (err) {
        assert.ok(err instanceof ObjectStoreError && err.code === 'InvalidPart', String(err));
        assert.equal(await store.head(key), undefined);
        return;
      }
      assert.equal((await store.get({ key })).body.subarray(PART).toString(), 'tail');
    });

    it('multipart: small non-last parts and unknown parts are refused', async (p) => {
      const key = p + 'bad';
      const id = await store.createMultipartUpload(key);
      const small = await store.uploadPart(key, id, 1, Buffer.from('small'));
      const last = await store.uploadPart(key, id, 2, Buffer.from('last'));
      await expectError(store.completeMultipartUpload(key, id, [small, last]), 'Other', 'EntityTooSmall');
      const big = await store.uploadPart(key, id, 1, Buffer.alloc(PART));
      await expectError(
        store.completeMultipartUpload(key, id, [big, { partNumber: 2, etag: small.etag }]),
        'Other',
        'InvalidPart',
      );
      await expectError(store.completeMultipartUpload(key, id, [big, last, { partNumber: 9, etag: last.etag }]), 'Other', 'InvalidPart');
      // After failed completions the upload is still usable.
      const done = await store.completeMultipartUpload(key, id, [big, last]);
      assert.equal((await store.head(key))?.etag, done.etag);
    });

    it('multipart: parts out of order are InvalidPartOrder (AWS) or put in order (Ceph RGW)', async (p) => {
      const key = p + 'order';
      const id = await store.createMultipartUpload(key);
      const first = await store.uploadPart(key, id, 1, Buffer.alloc(PART, 65));
      const second = await store.uploadPart(key, id, 2, Buffer.from('last'));
      try {
        await store.completeMultipartUpload(key, id, [second, first]);
      } catch (err) {
        assert.ok(err instanceof ObjectStoreError && err.code === 'InvalidPartOrder', String(err));
        return;
      }
      const got = (await store.get({ key })).body;
      assert.equal(got.length, PART + 4);
      assert.equal(got.subarray(PART).toString(), 'last');
    });

    it('UploadPartCopy copies an exact range; out-of-range and stale ETags are refused', async (p) => {
      const source = randomBytes(PART + 100);
      const src = await store.put({ key: p + 'src', body: source });
      const key = p + 'dst';
      const id = await store.createMultipartUpload(key);
      const p1 = await store.uploadPartCopy(key, id, 1, p + 'src', { start: 50, end: 50 + PART }, src.etag);
      assert.equal(p1.etag, md5Etag(source.subarray(50, 50 + PART)));
      const p2 = await store.uploadPart(key, id, 2, Buffer.from('+tail'));
      await expectError(
        store.uploadPartCopy(key, id, 3, p + 'src', { start: PART, end: PART + 101 }),
        'InvalidRange',
      );
      await expectError(store.uploadPartCopy(key, id, 3, p + 'src', { start: 0, end: 10 }, md5Etag('other')), 'PreconditionFailed');
      await expectError(store.uploadPartCopy(key, id, 3, p + 'nope', { start: 0, end: 10 }), 'NotFound');
      await store.completeMultipartUpload(key, id, [p1, p2]);
      const got = (await store.get({ key })).body;
      assert.deepEqual(got, Buffer.concat([source.subarray(50, 50 + PART), Buffer.from('+tail')]));
    });

    it('multipart: uploads are listed by prefix; abort ends them; later calls are NoSuchUpload', async (p) => {
      const a = await store.createMultipartUpload(p + 'u/a b');
      const b = await store.createMultipartUpload(p + 'u/\u{1F600}');
      await store.createMultipartUpload(p + 'v/c');
      const listed = await store.listMultipartUploads(p + 'u/');
      assert.deepEqual(
        listed.map((u) => [u.key, u.uploadId]),
        [
          [p + 'u/a b', a],
          [p + 'u/\u{1F600}', b],
        ],
      );
      assert.ok(listed.every((u) => Math.abs(u.initiated.getTime() - Date.now()) < 5 * 60_000));
      await store.abortMultipartUpload(p + 'u/a b', a);
      assert.deepEqual((await store.listMultipartUploads(p + 'u/')).map((u) => u.uploadId), [b]);
      await expectError(store.uploadPart(p + 'u/a b', a, 1, Buffer.from('x')), 'NoSuchUpload');
      await expectError(store.uploadPart(p + 'u/a b', 'no-such-upload-id', 1, Buffer.from('x')), 'NoSuchUpload');
    });

    it('multipart: CompleteMultipartUpload after abort is NoSuchUpload', async (p) => {
      const key = p + 'gone';
      const id = await store.createMultipartUpload(key);
      const part = await store.uploadPart(key, id, 1, Buffer.from('x'));
      await store.abortMultipartUpload(key, id);
      await expectError(store.completeMultipartUpload(key, id, [part]), 'NoSuchUpload');
      assert.equal(await store.head(key), undefined);
    });

    it('copy of a multipart object: same bytes, the ETag it reports is the one HEAD reports', async (p) => {
      const key = p + 'mp';
      const id = await store.createMultipartUpload(key);
      const parts = [await store.uploadPart(key, id, 1, Buffer.alloc(PART, 7)), await store.uploadPart(key, id, 2, Buffer.from('end'))];
      const done = await store.completeMultipartUpload(key, id, parts);
      const copied = await store.copy(key, p + 'mp-copy', done.etag);
      assert.equal((await store.head(p + 'mp-copy'))?.etag, copied.etag);
      assert.deepEqual((await store.get({ key: p + 'mp-copy' })).body, Buffer.concat([Buffer.alloc(PART, 7), Buffer.from('end')]));
    });

    it('many parallel ranged GETs of one object all return the right bytes', async (p) => {
      const data = randomBytes(4 * MiB);
      const { etag } = await store.put({ key: p + 'par', body: data });
      const size = 64 * 1024;
      const reads = Array.from({ length: 64 }, (_, i) =>
        store.get({ key: p + 'par', range: { start: i * size, end: (i + 1) * size }, ifMatch: etag }),
      );
      const results = await Promise.all(reads);
      results.forEach((r, i) => assert.deepEqual(r.body, data.subarray(i * size, (i + 1) * size)));
    });
  });
}
