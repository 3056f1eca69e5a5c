import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MemoryObjectStore, multipartEtag } from '../../../src/s3/memory-store.js';
import { ObjectStoreError, type ListPage, type ListRequest } from '../../../src/s3/object-store.js';

/** Follows continuation tokens to the end, checking no page exceeds the store's page size. */
async function listAll(store: MemoryObjectStore, req: ListRequest): Promise<{ keys: string[]; prefixes: string[]; pages: number }> {
  const keys: string[] = [];
  const prefixes: string[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const page: ListPage = await store.list(token === undefined ? req : { ...req, continuationToken: token });
    pages++;
    assert.ok(page.objects.length + page.prefixes.length <= Math.min(store.pageSize, req.maxKeys ?? 1000));
    keys.push(...page.objects.map((o) => o.key));
    prefixes.push(...page.prefixes);
    token = page.nextToken;
  } while (token !== undefined);
  return { keys, prefixes, pages };
}

/** The reference: what ListObjectsV2 returns in total, computed the naive way. */
function expectedListing(keys: string[], prefix: string, delimiter?: string, startAfter?: string): string[] {
  const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  const entries = new Set<string>();
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    if (startAfter !== undefined && byBytes(key, startAfter) <= 0) continue;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    const entry = cut >= 0 ? 'P:' + key.slice(0, cut + delimiter!.length) : 'K:' + key;
    // A common prefix is listed only if it sorts after StartAfter (as Ceph RGW does).
    if (startAfter !== undefined && byBytes(entry.slice(2), startAfter) <= 0) continue;
    entries.add(entry);
  }
  return [...entries].sort((a, b) => byBytes(a.slice(2), b.slice(2)));
}

function merged(page: { keys: string[]; prefixes: string[] }): string[] {
  return [...page.keys.map((k) => 'K:' + k), ...page.prefixes.map((p) => 'P:' + p)].sort((a, b) =>
    Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2))),
  );
}

test('listing orders keys by UTF-8 bytes: "a-" < "a/" < "a0", and astral characters after U+FFFD', async () => {
  const store = new MemoryObjectStore();
  // In UTF-16, U+1F600 (surrogates D83D DE00) sorts before U+FFFD; in UTF-8 (F0.. vs EF..) after it.
  for (const key of ['a0', 'a/b', 'a-', 'a', '\u{1F600}', '\uFFFD', 'a//c', 'a\0x']) store.putSync(key, 'x');
  const all = await listAll(store, { prefix: '' });
  assert.deepEqual(all.keys, ['a', 'a\0x', 'a-', 'a//c', 'a/b', 'a0', '\uFFFD', '\u{1F600}']);
});

test('delimiter listing rolls keys into common prefixes that sort among the keys', async () => {
  const store = new MemoryObjectStore();
  for (const key of ['a-', 'a/b', 'a/c/d', 'a0', 'a//x', 'b']) store.putSync(key, 'x');
  const root = await store.list({ prefix: '', delimiter: '/' });
  assert.deepEqual(root.objects.map((o) => o.key), ['a-', 'a0', 'b']);
  assert.deepEqual(root.prefixes, ['a/']);
  assert.equal(root.nextToken, undefined);

  const a = await store.list({ prefix: 'a/', delimiter: '/' });
  assert.deepEqual(a.objects.map((o) => o.key), ['a/b']);
  assert.deepEqual(a.prefixes, ['a//', 'a/c/']);
});

test('common prefixes count toward MaxKeys and paging never repeats one', async () => {
  const store = new MemoryObjectStore({ pageSize: 2 });
  for (const key of ['d1/x', 'd1/y', 'd1/z', 'd2/x', 'f', 'g', 'd3/q']) store.putSync(key, 'x');
  const first = await store.list({ prefix: '', delimiter: '/' });
  assert.deepEqual(first.prefixes, ['d1/', 'd2/']);
  assert.deepEqual(first.objects, []);
  assert.ok(first.nextToken);
  const all = await listAll(store, { prefix: '', delimiter: '/' });
  assert.deepEqual(all.prefixes, ['d1/', 'd2/', 'd3/']);
  assert.deepEqual(all.keys, ['f', 'g']);
  assert.equal(all.pages, 3);
});

test('a page that ends exactly at the last entry has no continuation token', async () => {
  const store = new MemoryObjectStore({ pageSize: 2 });
  store.putSync('p/a', '1');
  store.putSync('p/b', '2');
  store.putSync('q', '3');
  const page = await store.list({ prefix: 'p/' });
  assert.deepEqual(page.objects.map((o) => o.key), ['p/a', 'p/b']);
  assert.equal(page.nextToken, undefined);
});

test('MaxKeys below the page size is honoured; StartAfter skips keys at or before it', async () => {
  const store = new MemoryObjectStore();
  for (const k of ['k1', 'k2', 'k3', 'k4']) store.putSync(k, k);
  const page = await store.list({ prefix: 'k', maxKeys: 3 });
  assert.deepEqual(page.objects.map((o) => o.key), ['k1', 'k2', 'k3']);
  assert.ok(page.nextToken);
  const after = await store.list({ prefix: 'k', startAfter: 'k2' });
  assert.deepEqual(after.objects.map((o) => o.key), ['k3', 'k4']);
  // StartAfter before the prefix does not widen the listing.
  const before = await store.list({ prefix: 'k3', startAfter: 'a' });
  assert.deepEqual(before.objects.map((o) => o.key), ['k3']);
});

test('with a delimiter, StartAfter inside a common prefix skips the whole prefix', async () => {
  const store = new MemoryObjectStore();
  for (const k of ['a', 'b/1', 'b/2', 'c']) store.putSync(k, k);
  const listed = async (startAfter: string) => {
    const page = await store.list({ prefix: '', delimiter: '/', startAfter });
    return [...page.prefixes, ...page.objects.map((o) => o.key)];
  };
  assert.deepEqual(await listed('b'), ['b/', 'c']);
  assert.deepEqual(await listed('b/'), ['c']);
  assert.deepEqual(await listed('b/1'), ['c']);
  // Without a delimiter it is a plain key comparison.
  const flat = await store.list({ prefix: '', startAfter: 'b/1' });
  assert.deepEqual(flat.objects.map((o) => o.key), ['b/2', 'c']);
});

test('a continuation token from another store or garbage is rejected', async () => {
  const store = new MemoryObjectStore();
  await assert.rejects(store.list({ prefix: '', continuationToken: 'not-a-token' }), (e: unknown) => {
    return e instanceof ObjectStoreError && e.kind === 'Other' && e.code === 'InvalidArgument';
  });
});

test('paged listings equal the reference listing (property)', async () => {
  const segment = fc.constantFrom('a', 'b', 'a-', 'a0', '', 'é', '\u{1F600}', '\0', 'z');
  const keyArb = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')).filter((k) => k !== '');
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(keyArb, { maxLength: 30 }),
      fc.constantFrom('', 'a', 'a/', 'b/', 'a-'),
      fc.constantFrom(undefined, '/', 'a'),
      fc.integer({ min: 1, max: 5 }),
      fc.option(keyArb, { nil: undefined }),
      async (keys, prefix, delimiter, pageSize, startAfter) => {
        const store = new MemoryObjectStore({ pageSize });
        for (const key of keys) store.putSync(key, key);
        const req: ListRequest = { prefix };
        if (delimiter !== undefined) req.delimiter = delimiter;
        if (startAfter !== undefined) req.startAfter = startAfter;
        const got = await listAll(store, req);
        assert.deepEqual(merged(got), expectedListing(keys, prefix, delimiter, startAfter));
      },
    ),
    { numRuns: 300 },
  );
});

test('HEAD and listing report size, quoted MD5 ETag and whole-second lastModified', async () => {
  const store = new MemoryObjectStore({ now: () => new Date('2024-05-06T07:08:09.567Z') });
  const body = Buffer.from('hello');
  const { etag } = await store.put({ key: 'h', body });
  assert.equal(etag, `"${createHash('md5').update(body).digest('hex')}"`);
  const head = await store.head('h');
  assert.deepEqual(head, { key: 'h', size: 5, etag, lastModified: new Date('2024-05-06T07:08:09.000Z') });
  assert.equal(await store.head('missing'), undefined);
  const page = await store.list({ prefix: '' });
  assert.deepEqual(page.objects, [head]);
});

test('ranged GET clamps the end, rejects a start past the end, and honours If-Match', async () => {
  const store = new MemoryObjectStore();
  const { etag } = store.putSync('r', '0123456789');
  const mid = await store.get({ key: 'r', range: { start: 2, end: 5 } });
  assert.equal(mid.body.toString(), '234');
  assert.equal(mid.size, 10);
  const tail = await store.get({ key: 'r', range: { start: 8, end: 100 }, ifMatch: etag });
  assert.equal(tail.body.toString(), '89');
  await assert.rejects(store.get({ key: 'r', range: { start: 10, end: 11 } }), { kind: 'InvalidRange' });
  await assert.rejects(store.get({ key: 'r', ifMatch: '"0000"' }), { kind: 'PreconditionFailed' });
  // Unquoted ETags match too.
  assert.equal((await store.get({ key: 'r', ifMatch: etag.slice(1, -1) })).body.length, 10);
  await assert.rejects(store.get({ key: 'nope' }), { kind: 'NotFound' });
  store.putSync('empty', '');
  await assert.rejects(store.get({ key: 'empty', range: { start: 0, end: 1 } }), { kind: 'InvalidRange' });
  assert.equal((await store.get({ key: 'empty' })).body.length, 0);
  await assert.rejects(store.get({ key: 'r', range: { start: 3, end: 3 } }), RangeError);
});

test('GET returns a copy: mutating it does not change the stored object', async () => {
  const store = new MemoryObjectStore();
  const src = Buffer.from('abc');
  await store.put({ key: 'c', body: src });
  src.write('x');
  const got = await store.get({ key: 'c' });
  got.body.write('y');
  assert.equal(store.getSync('c')!.toString(), 'abc');
});

test('an aborted GET rejects with AbortError', async () => {
  const store = new MemoryObjectStore();
  store.putSync('a', 'x');
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(store.get({ key: 'a', signal: ac.signal }), { name: 'AbortError' });
});

test('create-only PUT fails on an existing key; DELETE is idempotent', async () => {
  const store = new MemoryObjectStore();
  await store.put({ key: 'n', body: Buffer.from('1'), ifNoneMatch: true });
  await assert.rejects(store.put({ key: 'n', body: Buffer.from('2'), ifNoneMatch: true }), { kind: 'PreconditionFailed' });
  assert.equal(store.getSync('n')!.toString(), '1');
  await store.delete('n');
  await store.delete('n');
  assert.equal(await store.head('n'), undefined);
});

test('keys are arbitrary strings up to 1024 UTF-8 bytes', async () => {
  const store = new MemoryObjectStore();
  for (const key of ['//', 'a\0b', ' ', '../x', 'é'.repeat(512)]) {
    await store.put({ key, body: Buffer.from(key) });
    assert.equal((await store.get({ key })).body.toString(), key);
  }
  await assert.rejects(store.put({ key: 'é'.repeat(513), body: Buffer.alloc(0) }), { code: 'KeyTooLongError' });
});

test('copy makes a single-part object, checks the source ETag, and refuses a copy onto itself', async () => {
  const store = new MemoryObjectStore();
  const { etag } = store.putSync('src', 'data');
  const copied = await store.copy('src', 'dst', etag);
  assert.equal(copied.etag, etag);
  assert.equal(store.getSync('dst')!.toString(), 'data');
  await assert.rejects(store.copy('src', 'dst2', '"bad"'), { kind: 'PreconditionFailed' });
  await assert.rejects(store.copy('missing', 'dst3'), { kind: 'NotFound' });
  await assert.rejects(store.copy('src', 'src'), { code: 'InvalidRequest' });
});

test('multipart: S3 ETag, part overwrite, gaps, ordering and size rules', async () => {
  const store = new MemoryObjectStore({ minPartSize: 4 });
  const id = await store.createMultipartUpload('m');
  const p1 = await store.uploadPart('m', id, 1, Buffer.from('AAAA'));
  await store.uploadPart('m', id, 2, Buffer.from('zz')); // replaced below
  const p2 = await store.uploadPart('m', id, 2, Buffer.from('BBBB'));
  const p5 = await store.uploadPart('m', id, 5, Buffer.from('C'));
  await store.uploadPart('m', id, 3, Buffer.from('replaced later'));
  await assert.rejects(store.uploadPart('m', id, 0, Buffer.from('x')), { code: 'InvalidArgument' });
  await assert.rejects(store.uploadPart('m', id, 10001, Buffer.from('x')), { code: 'InvalidArgument' });
  await assert.rejects(store.completeMultipartUpload('m', id, [p2, p1]), { code: 'InvalidPartOrder' });
  await assert.rejects(store.completeMultipartUpload('m', id, [p1, { partNumber: 2, etag: p1.etag }]), {
    code: 'InvalidPart',
  });
  await assert.rejects(store.completeMultipartUpload('m', id, [p5, { partNumber: 6, etag: p5.etag }]), {
    code: 'InvalidPart',
  });
  await assert.rejects(store.completeMultipartUpload('m', id, []), { code: 'MalformedXML' });
  // Part 3 was uploaded: leaving it out is InvalidPart, as on Ceph RGW (AWS would drop it).
  await assert.rejects(store.completeMultipartUpload('m', id, [p1, p2, p5]), { code: 'InvalidPart' });
  await store.uploadPart('m', id, 3, Buffer.from('CCCC'));
  assert.deepEqual(store.pendingUploads().map((u) => u.uploadId), [id]);
  const p3 = await store.uploadPart('m', id, 3, Buffer.from('CCCC'));
  const done = await store.completeMultipartUpload('m', id, [p1, p2, p3, p5]);
  const md5 = (s: string) => createHash('md5').update(s).digest();
  const expected = createHash('md5')
    .update(Buffer.concat([md5('AAAA'), md5('BBBB'), md5('CCCC'), md5('C')]))
    .digest('hex');
  assert.equal(done.etag, `"${expected}-4"`);
  assert.equal(done.etag, multipartEtag([p1.etag, p2.etag, p3.etag, p5.etag]));
  assert.equal(store.getSync('m')!.toString(), 'AAAABBBBCCCCC');
  assert.equal((await store.head('m'))!.etag, done.etag);
  assert.deepEqual(store.pendingUploads(), []);
  await assert.rejects(store.completeMultipartUpload('m', id, [p1]), { kind: 'NoSuchUpload' });
});

test('multipart: allowUnlistedParts drops parts left out of the completion, as AWS does', async () => {
  const store = new MemoryObjectStore({ minPartSize: 1, allowUnlistedParts: true });
  const id = await store.createMultipartUpload('k');
  const p1 = await store.uploadPart('k', id, 1, Buffer.from('one'));
  await store.uploadPart('k', id, 2, Buffer.from('two'));
  await store.completeMultipartUpload('k', id, [p1]);
  assert.equal(store.getSync('k')!.toString(), 'one');
});

test('multipart: parts below the minimum size are refused except the last', async () => {
  const store = new MemoryObjectStore({ minPartSize: 4 });
  const id = await store.createMultipartUpload('s');
  const p1 = await store.uploadPart('s', id, 1, Buffer.from('abc'));
  const p2 = await store.uploadPart('s', id, 2, Buffer.from('d'));
  await assert.rejects(store.completeMultipartUpload('s', id, [p1, p2]), { code: 'EntityTooSmall' });
  // A single small part is the last part: fine.
  const id2 = await store.createMultipartUpload('s');
  const only = await store.uploadPart('s', id2, 1, Buffer.from('abc'));
  const one = await store.completeMultipartUpload('s', id2, [only]);
  assert.match(one.etag, /^"[0-9a-f]{32}-1"$/);
});

test('multipart: UploadPartCopy copies an exact range and checks source ETag and bounds', async () => {
  const store = new MemoryObjectStore({ minPartSize: 1 });
  const { etag } = store.putSync('src', '0123456789');
  const id = await store.createMultipartUpload('dst');
  const p1 = await store.uploadPartCopy('dst', id, 1, 'src', { start: 6, end: 10 }, etag);
  const p2 = await store.uploadPart('dst', id, 2, Buffer.from('-new'));
  await assert.rejects(store.uploadPartCopy('dst', id, 3, 'src', { start: 8, end: 11 }), { kind: 'InvalidRange' });
  await assert.rejects(store.uploadPartCopy('dst', id, 3, 'src', { start: 0, end: 1 }, '"x"'), {
    kind: 'PreconditionFailed',
  });
  await assert.rejects(store.uploadPartCopy('dst', id, 3, 'nope', { start: 0, end: 1 }), { kind: 'NotFound' });
  await store.completeMultipartUpload('dst', id, [p1, p2]);
  assert.equal(store.getSync('dst')!.toString(), '6789-new');
});

test('multipart: abort, unknown uploads, and listing in-progress uploads by prefix', async () => {
  const store = new MemoryObjectStore();
  const a = await store.createMultipartUpload('dir/a');
  const b = await store.createMultipartUpload('dir/b');
  await store.createMultipartUpload('other');
  assert.deepEqual((await store.listMultipartUploads('dir/')).map((u) => [u.key, u.uploadId]), [
    ['dir/a', a],
    ['dir/b', b],
  ]);
  await store.abortMultipartUpload('dir/a', a);
  await assert.rejects(store.abortMultipartUpload('dir/a', a), { kind: 'NoSuchUpload' });
  await assert.rejects(store.uploadPart('dir/a', a, 1, Buffer.from('x')), { kind: 'NoSuchUpload' });
  // An upload id belongs to its key.
  await assert.rejects(store.uploadPart('dir/x', b, 1, Buffer.from('x')), { kind: 'NoSuchUpload' });
  assert.deepEqual((await store.listMultipartUploads('dir/')).map((u) => u.key), ['dir/b']);
});

test('the call log records what was asked, in order, and can be cleared', async () => {
  const store = new MemoryObjectStore();
  store.putSync('d/f', 'x'); // seeding is not logged
  await Promise.all([store.head('d/name'), store.list({ prefix: 'd/name/', maxKeys: 1 })]);
  assert.deepEqual(store.apiSequence(), ['head', 'list']);
  assert.deepEqual(store.calls[1], { api: 'list', req: { prefix: 'd/name/', maxKeys: 1 } });
  await store.get({ key: 'd/f', range: { start: 0, end: 1 } });
  assert.deepEqual(store.calls[2], { api: 'get', req: { key: 'd/f', range: { start: 0, end: 1 } } });
  assert.equal(store.callCount('head'), 1);
  assert.equal(store.callCount(), 3);
  store.clearLog();
  assert.equal(store.callCount(), 0);
  assert.equal(store.callCount('head'), 0);
});
