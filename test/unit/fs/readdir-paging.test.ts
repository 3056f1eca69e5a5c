// READDIR paging: stable cookies and verifiers over big directories, tiny replies, concurrent
// changes, evicted listings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFsError } from '../../../src/fs/errors.js';
import { S3FileSystem, type ReaddirEntry } from '../../../src/fs/file-system.js';
import { HandleStore } from '../../../src/fs/handle-store.js';
import { FaultInjectingObjectStore } from '../../../src/s3/faulty-store.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { readWholeDirectory, withTempDir } from './fs-helpers.js';

/** A small deterministic PRNG so failures replay. */
function prng(seed: number): (max: number) => number {
  let s = seed >>> 0;
  return (max) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 1 + (s % max);
  };
}

async function setup(options: { pageSize?: number; listPageSize?: number; stateDir?: string; metadataTtlMs?: number; clock?: () => number } = {}) {
  const memory = new MemoryObjectStore(options.pageSize === undefined ? {} : { pageSize: options.pageSize });
  // Calls pass through unchanged unless a test injects a fault.
  const store = new FaultInjectingObjectStore(memory);
  const handles = await HandleStore.open({ bucket: 'b', prefix: '', ...(options.stateDir ? { stateDir: options.stateDir } : {}) });
  const fs = new S3FileSystem({
    store,
    handles,
    ...(options.listPageSize === undefined ? {} : { listPageSize: options.listPageSize }),
    ...(options.metadataTtlMs === undefined ? {} : { metadataTtlMs: options.metadataTtlMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  return { memory, store, handles, fs };
}

function names(entries: ReaddirEntry[]): string[] {
  return entries.map((e) => e.name).filter((n) => n !== '.' && n !== '..');
}

test('10,000 entries read with tiny replies: every name exactly once, attributes from the listing, no HEADs', async () => {
  await withTempDir(async (stateDir) => {
    const { memory, fs, handles } = await setup({ stateDir });
    const expected: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const name = `file-${String(i).padStart(5, '0')}`;
      memory.putSync(`big/${name}`, 'x'.repeat(i % 13));
      expected.push(name);
    }
    const dir = await fs.lookup(fs.rootId, 'big');
    memory.clearLog();
    const next = prng(7);
    const entries = await readWholeDirectory(fs, dir.id, { withAttributes: true, budget: () => next(7) });
    assert.deepEqual(names(entries).sort(), expected);
    assert.equal(memory.callCount('head'), 0, 'READDIRPLUS takes attributes from the listing');
    assert.equal(memory.callCount('list'), 10, 'one LIST per 1,000 entries');
    for (const e of entries) {
      if (e.name === '.' || e.name === '..') continue;
      const i = Number(e.name.slice(5));
      assert.equal(e.attributes?.size, i % 13);
      assert.equal(e.attributes?.type, 'file');
      assert.equal(handles.get(e.fileid)?.path, `big/${e.name}`);
    }
    await handles.close();
  });
});

test('names sorting around "/" with 1-key LIST pages: every name once, directories shadow files', async () => {
  const { memory, fs } = await setup({ pageSize: 1, listPageSize: 1 });
  const expected = new Map<string, 'file' | 'dir'>();
  for (const stem of ['a', 'b', 'c.d', 'é', '😀']) {
    for (const suffix of ['', '-', '.', ' ', '!', '0', '/x', '-/y']) {
      const key = stem + suffix;
      memory.putSync(key, 'v');
      const [name, rest] = key.split('/');
      expected.set(name!, rest !== undefined ? 'dir' : expected.get(name!) === 'dir' ? 'dir' : 'file');
    }
  }
  const next = prng(3);
  const entries = await readWholeDirectory(fs, fs.rootId, { withAttributes: true, budget: () => next(3) });
  const got = new Map(entries.filter((e) => e.name !== '.' && e.name !== '..').map((e) => [e.name, e.attributes!.type]));
  assert.deepEqual([...got].sort(), [...expected].sort());
});

test('paging through a listing while other clients change the bucket: no duplicates, no unchanged name missed', async () => {
  const { memory, fs } = await setup({ pageSize: 100, listPageSize: 100 });
  const initial: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const name = `n${String(i).padStart(4, '0')}`;
    memory.putSync(name, 'v');
    initial.push(name);
  }
  const next = prng(11);
  const seen = new Set<string>();
  const touched = new Set<string>();
  let cookie = 0n;
  let verifier = 0n;
  for (let call = 0; ; call++) {
    const reply = await fs.readdir(fs.rootId, { cookie, verifier, withAttributes: false, maxEntries: next(9) });
    for (const e of reply.entries) {
      assert.ok(!seen.has(e.name), `'${e.name}' twice`);
      seen.add(e.name);
      cookie = e.cookie;
    }
    verifier = reply.verifier;
    if (reply.eof) break;
    if (call % 50 === 10) {
      // Delete some names ahead and behind, add some new ones, overwrite some.
      for (let k = 0; k < 5; k++) {
        const victim = initial[(call * 7 + k * 331) % initial.length]!;
        memory.deleteSync(victim);
        touched.add(victim);
        const added = `n${String(call).padStart(4, '0')}-new${k}`;
        memory.putSync(added, 'new');
        touched.add(added);
      }
    }
  }
  for (const name of initial) if (!touched.has(name)) assert.ok(seen.has(name), `'${name}' was never returned`);
  for (const name of seen) {
    if (name === '.' || name === '..') continue;
    assert.ok(initial.includes(name) || touched.has(name), `'${name}' never existed`);
  }
});

test('two clients paging the same directory at once each see every name once', async () => {
  const { memory, fs } = await setup({ pageSize: 50, listPageSize: 50 });
  for (let i = 0; i < 500; i++) memory.putSync(`d/${i}`, '');
  const dir = await fs.lookup(fs.rootId, 'd');
  const a = prng(1);
  const b = prng(2);
  const [one, two] = await Promise.all([
    readWholeDirectory(fs, dir.id, { withAttributes: false, budget: () => a(10) }),
    readWholeDirectory(fs, dir.id, { withAttributes: true, budget: () => b(4) }),
  ]);
  assert.equal(names(one).length, 500);
  assert.deepEqual(names(one).sort(), names(two).sort());
});

test('cookies carry on from where they were, in order, and an unknown verifier is BAD_COOKIE', async () => {
  const { memory, fs } = await setup({ pageSize: 2, listPageSize: 2 });
  for (const k of ['c', 'a', 'b', 'e', 'd']) memory.putSync(k, '');
  const first = await fs.readdir(fs.rootId, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 4 });
  assert.deepEqual(
    first.entries.map((e) => e.name),
    ['.', '..', 'a', 'b'],
  );
  assert.equal(first.eof, false);
  // The same cookie twice (a client re-reading a page it dropped) gives the same answer.
  const cookie = first.entries[3]!.cookie;
  const again1 = await fs.readdir(fs.rootId, { cookie, verifier: first.verifier, withAttributes: false, maxEntries: 10 });
  const again2 = await fs.readdir(fs.rootId, { cookie, verifier: first.verifier, withAttributes: false, maxEntries: 10 });
  assert.deepEqual(again1, again2);
  assert.deepEqual(
    again1.entries.map((e) => e.name),
    ['c', 'd', 'e'],
  );
  assert.equal(again1.eof, true);
  await assert.rejects(
    fs.readdir(fs.rootId, { cookie, verifier: first.verifier ^ 1n, withAttributes: false, maxEntries: 10 }),
    (e: unknown) => isFsError(e, 'BAD_COOKIE'),
  );
  // A verifier of another directory's listing is no good either.
  memory.putSync('sub/x', '');
  const sub = await fs.lookup(fs.rootId, 'sub');
  await assert.rejects(
    fs.readdir(sub.id, { cookie, verifier: first.verifier, withAttributes: false, maxEntries: 10 }),
    (e: unknown) => isFsError(e, 'BAD_COOKIE'),
  );
});

test('an evicted listing is BAD_COOKIE; starting again from cookie 0 works', async () => {
  const memory = new MemoryObjectStore();
  const handles = await HandleStore.open({ bucket: 'b', prefix: '' });
  const fs = new S3FileSystem({ store: memory, handles, snapshots: { maxSnapshots: 1 } });
  for (let i = 0; i < 10; i++) memory.putSync(`k${i}`, '');
  const first = await fs.readdir(fs.rootId, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 3 });
  await fs.readdir(fs.rootId, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 3 }); // pushes the first out
  await assert.rejects(
    fs.readdir(fs.rootId, { cookie: first.entries[2]!.cookie, verifier: first.verifier, withAttributes: false, maxEntries: 3 }),
    (e: unknown) => isFsError(e, 'BAD_COOKIE'),
  );
  const entries = await readWholeDirectory(fs, fs.rootId, { withAttributes: false, budget: () => 4 });
  assert.equal(names(entries).length, 10);
});

test('a byte budget limits a reply; one that fits no entry is TOOSMALL', async () => {
  const { memory, fs } = await setup();
  for (const k of ['aaaa', 'bbbbbbbb', 'cc']) memory.putSync(k, '');
  const entryBytes = (name: string) => 10 + name.length;
  const reply = await fs.readdir(fs.rootId, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 100, maxBytes: 40, entryBytes });
  // '.' 11 + '..' 12 + 'aaaa' 14 = 37; 'bbbbbbbb' (18) does not fit.
  assert.deepEqual(
    reply.entries.map((e) => e.name),
    ['.', '..', 'aaaa'],
  );
  const last = reply.entries[2]!.cookie;
  await assert.rejects(
    fs.readdir(fs.rootId, { cookie: last, verifier: reply.verifier, withAttributes: false, maxEntries: 100, maxBytes: 15, entryBytes }),
    (e: unknown) => isFsError(e, 'TOOSMALL'),
  );
});

test('listings are reused within the metadata TTL and refreshed after it', async () => {
  let now = 0;
  const { memory, fs } = await setup({ metadataTtlMs: 10_000, clock: () => now });
  memory.putSync('a', '');
  const read = async () => names(await readWholeDirectory(fs, fs.rootId, { withAttributes: true, budget: () => 100 }));
  assert.deepEqual(await read(), ['a']);
  const lists = memory.callCount('list');
  memory.putSync('b', '');
  now += 5000;
  assert.deepEqual(await read(), ['a'], 'within the TTL the cached listing answers');
  assert.equal(memory.callCount('list'), lists);
  now += 5001;
  assert.deepEqual(await read(), ['a', 'b']);
  assert.ok(memory.callCount('list') > lists);
});

test('with the default TTL (0) every new pass lists again', async () => {
  const { memory, fs } = await setup();
  memory.putSync('a', '');
  const read = async () => names(await readWholeDirectory(fs, fs.rootId, { withAttributes: false, budget: () => 100 }));
  assert.deepEqual(await read(), ['a']);
  memory.putSync('b', '');
  assert.deepEqual(await read(), ['a', 'b']);
  memory.deleteSync('a');
  assert.deepEqual(await read(), ['b']);
});

test('READDIR of a directory that is gone is STALE; of a file is NOTDIR', async () => {
  const { memory, fs } = await setup();
  memory.putSync('d/f', '');
  const d = await fs.lookup(fs.rootId, 'd');
  const f = await fs.lookup(d.id, 'f');
  await assert.rejects(fs.readdir(f.id, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 10 }), (e: unknown) =>
    isFsError(e, 'NOTDIR'),
  );
  memory.deleteSync('d/f');
  await assert.rejects(fs.readdir(d.id, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 10 }), (e: unknown) =>
    isFsError(e, 'STALE'),
  );
  // An empty bucket's root is just empty.
  const root = await fs.readdir(fs.rootId, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 10 });
  assert.deepEqual(
    root.entries.map((e) => e.name),
    ['.', '..'],
  );
  assert.equal(root.eof, true);
});

test('a LIST that fails mid-way fails that READDIR; retrying the same cookie carries on with nothing lost', async () => {
  const { memory, store, fs } = await setup({ pageSize: 5, listPageSize: 5 });
  for (let i = 0; i < 40; i++) memory.putSync(`k${String(i).padStart(2, '0')}`, '');
  const seen: string[] = [];
  let cookie = 0n;
  let verifier = 0n;
  let failures = 0;
  // S3 fails every LIST for a while (in the background read-ahead too), then recovers.
  let outage: { remove(): void } | undefined;
  for (let call = 0; ; call++) {
    if (call % 3 === 1) outage = store.failNext('list', 'Unavailable', 1000);
    let reply;
    try {
      reply = await fs.readdir(fs.rootId, { cookie, verifier, withAttributes: true, maxEntries: 4 });
    } catch (e) {
      assert.ok(isFsError(e, 'IO'), String(e));
      failures++;
      outage?.remove();
      continue;
    }
    for (const e of reply.entries) {
      seen.push(e.name);
      cookie = e.cookie;
    }
    verifier = reply.verifier;
    if (reply.eof) break;
  }
  assert.ok(failures > 0);
  const names = seen.filter((n) => n !== '.' && n !== '..');
  assert.equal(names.length, 40);
  assert.equal(new Set(names).size, 40);
});

test('the listing stays a reply and two LIST pages ahead of a client paging through it, and no further', async () => {
  const { memory, fs } = await setup({ pageSize: 10, listPageSize: 10 });
  for (let i = 0; i < 100; i++) memory.putSync(`d/k${String(i).padStart(3, '0')}`, '');
  const dir = await fs.lookup(fs.rootId, 'd');
  memory.clearLog();
  const settle = () => new Promise((r) => setTimeout(r, 20));

  const first = await fs.readdir(dir.id, { cookie: 0n, verifier: 0n, withAttributes: true, maxEntries: 5 });
  await settle();
  // The page the reply needed, the next one (read ahead), and the one after (asked for while the
  // ids of the one before were recorded).
  assert.equal(memory.callCount('list'), 3);
  await settle();
  assert.equal(memory.callCount('list'), 3, 'a client that stops reading stops the listing');

  // Paging on: every reply finds its entries listed already, and the next page is on its way.
  let cookie = first.entries.at(-1)!.cookie;
  const seen = names(first.entries);
  for (;;) {
    const reply = await fs.readdir(dir.id, { cookie, verifier: first.verifier, withAttributes: true, maxEntries: 5 });
    seen.push(...names(reply.entries));
    if (reply.eof) break;
    cookie = reply.entries.at(-1)!.cookie;
    await settle();
    const listed = memory.callCount('list') * 10;
    assert.ok(listed >= Math.min(100, seen.length + 5), `after ${seen.length} names ${listed} are listed: the next reply's are there`);
    assert.ok(listed <= seen.length + 35, `after ${seen.length} names ${listed} are listed: a reply and two pages ahead at most`);
  }
  assert.equal(seen.length, 100);
  assert.equal(new Set(seen).size, 100);
});

test('a LIST that fails in the background costs nothing: the next READDIR lists that page again', async () => {
  const { memory, store, handles, fs } = await setup({ pageSize: 10, listPageSize: 10 });
  for (let i = 0; i < 30; i++) memory.putSync(`k${String(i).padStart(2, '0')}`, '');
  const first = await fs.readdir(fs.rootId, { cookie: 0n, verifier: 0n, withAttributes: false, maxEntries: 3 });
  store.failNext('list', 'Unavailable'); // too late for page 2, already asked for: it hits page 3
  const seen = names(first.entries);
  let cookie = first.entries.at(-1)!.cookie;
  for (;;) {
    const reply = await fs.readdir(fs.rootId, { cookie, verifier: first.verifier, withAttributes: false, maxEntries: 3 });
    seen.push(...names(reply.entries));
    if (reply.eof) break;
    cookie = reply.entries.at(-1)!.cookie;
  }
  assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}`));
  await handles.close();
});

test('the next LIST page is asked for while the ids of the last one are being recorded', async () => {
  const { memory, fs, handles } = await setup({ pageSize: 10, listPageSize: 10 });
  for (let i = 0; i < 30; i++) memory.putSync(`d/k${String(i).padStart(2, '0')}`, '');
  const dir = await fs.lookup(fs.rootId, 'd');
  memory.clearLog();
  // Recording ids is a disk write; hold the first one until S3 has been asked for the next page.
  const assignMany = handles.assignMany.bind(handles);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let calls = 0;
  handles.assignMany = async (entries) => {
    if (calls++ === 0) await held;
    return assignMany(entries);
  };
  const reply = fs.readdir(dir.id, { cookie: 0n, verifier: 0n, withAttributes: true, maxEntries: 5 });
  for (let i = 0; i < 100 && memory.callCount('list') < 2; i++) await new Promise((r) => setTimeout(r, 2));
  assert.equal(memory.callCount('list'), 2, 'page 2 was asked for while page 1 waited for its ids');
  release();
  assert.deepEqual(names((await reply).entries), ['k00', 'k01', 'k02']);
});
