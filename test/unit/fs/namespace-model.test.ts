// Model-based tests of the namespace: random buckets (invalid names, keys ending in '/', names that
// sort around '/'), random local state, random out-of-band PUT/DELETE between steps, tiny LIST pages
// and tiny READDIR replies; after every step the whole tree served through READDIR(PLUS) + LOOKUP
// must equal the reference model, hidden keys must not be found, and every id handed out earlier
// must either still name the same thing or be STALE.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFsError } from '../../../src/fs/errors.js';
import { S3FileSystem } from '../../../src/fs/file-system.js';
import { HandleStore } from '../../../src/fs/handle-store.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { FakeLocalState, sortedEntries, walkTree } from './fs-helpers.js';
import { flatten, materialize, modelNameIsValid, nodeAt, type RemoteObject } from './reference-model.js';

const COMPONENTS = [
  'a',
  'b',
  'a-',
  'a.',
  'a b',
  'a0',
  '.',
  '..',
  '',
  'é',
  '😀',
  '%2F',
  '+',
  'a\0',
  '\0',
  'x'.repeat(256),
  'é'.repeat(127),
];

const component = fc.constantFrom(...COMPONENTS);
const relKey = fc
  .tuple(fc.array(component, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([parts, slash]) => parts.join('/') + (slash ? '/' : ''))
  .filter((k) => k.length > 0);

/** S3's limit counts the whole key, the mount's prefix included. */
const fitsS3 = (key: string) => Buffer.byteLength(key) <= 1024;

/** Keys for a mount at `prefix`: mostly inside it, some beside it (which must stay invisible). */
function keyFor(prefix: string): fc.Arbitrary<string> {
  if (prefix === '') return relKey.filter(fitsS3);
  return fc.oneof(
    { weight: 6, arbitrary: relKey.map((k) => prefix + k).filter(fitsS3) },
    { weight: 1, arbitrary: fc.constantFrom(prefix.slice(0, -1), prefix, 'px/a', 'p-/a', 'q') },
  );
}

const validName = fc.constantFrom('a', 'b', 'a-', 'a.', 'é', 'n');
const localPath = fc.array(validName, { minLength: 1, maxLength: 3 }).map((p) => p.join('/'));

type Op =
  | { op: 'put'; key: string; size: number }
  | { op: 'delete'; pick: number }
  | { op: 'localDir'; path: string }
  | { op: 'localFile'; dir: number; name: string; size: number }
  | { op: 'dropLocal'; pick: number };

function opFor(prefix: string): fc.Arbitrary<Op> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyFor(prefix), size: fc.nat({ max: 20 }) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('localDir' as const), path: localPath }) },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('localFile' as const), dir: fc.nat(), name: validName, size: fc.nat({ max: 20 }) }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('dropLocal' as const), pick: fc.nat() }) },
  );
}

function apply(op: Op, memory: MemoryObjectStore, local: FakeLocalState): void {
  switch (op.op) {
    case 'put':
      memory.putSync(op.key, 'x'.repeat(op.size));
      return;
    case 'delete': {
      const keys = memory.keys();
      if (keys.length > 0) memory.deleteSync(keys[op.pick % keys.length]!);
      return;
    }
    case 'localDir':
      local.addDir(op.path);
      return;
    case 'localFile': {
      const dirs = [...local.dirs];
      if (dirs.length === 0) return;
      local.addFile(`${dirs[op.dir % dirs.length]}/${op.name}`, op.size);
      return;
    }
    case 'dropLocal': {
      const files = [...local.files.keys()];
      if (files.length > 0) local.files.delete(files[op.pick % files.length]!);
      return;
    }
  }
}

function remoteOf(memory: MemoryObjectStore): Map<string, RemoteObject> {
  return new Map(memory.keys().map((k) => [k, { size: memory.infoSync(k)!.size }]));
}

interface Seen {
  path: string;
  kind: 'file' | 'dir';
}

async function checkAgainstModel(
  fs: S3FileSystem,
  memory: MemoryObjectStore,
  local: FakeLocalState,
  prefix: string,
  budget: () => number,
  withAttributes: boolean,
  issued: Map<bigint, Seen>,
): Promise<void> {
  const model = materialize(remoteOf(memory), local.dirs, new Map([...local.files].map(([p, f]) => [p, f.size])), prefix);
  const served = await walkTree(fs, { budget, withAttributes });
  assert.deepEqual(sortedEntries(served), sortedEntries(flatten(model)));

  // Every key's path, looked up one component at a time, agrees with the model; the first missing
  // component (hidden, shadowed or invalid) is NOENT or NAMETOOLONG.
  for (const key of memory.keys()) {
    if (!key.startsWith(prefix)) continue;
    let dirId = fs.rootId;
    let path = '';
    for (const name of key.slice(prefix.length).split('/')) {
      if (name === '.' || name === '..') break; // LOOKUP of '.' and '..' means self and parent
      const next = path === '' ? name : `${path}/${name}`;
      const expected = modelNameIsValid(name) ? nodeAt(model, next) : undefined;
      let result;
      try {
        result = await fs.lookup(dirId, name);
      } catch (e) {
        assert.ok(isFsError(e, 'NOENT') || isFsError(e, 'NAMETOOLONG') || isFsError(e, 'NOTDIR'), String(e));
        assert.equal(expected, undefined, `LOOKUP '${next}' failed with ${String(e)} but the model has it`);
        break;
      }
      assert.ok(expected, `LOOKUP found '${next}' (key '${key}') but the model does not have it`);
      assert.equal(result.attributes.type, expected.kind);
      if (expected.kind === 'file') break;
      dirId = result.id;
      path = next;
    }
  }

  // Ids issued earlier: same thing still there → same answers; gone or changed kind → STALE.
  for (const [id, seen] of issued) {
    const node = nodeAt(model, seen.path);
    if (node && node.kind === seen.kind) {
      const attrs = await fs.getattr(id);
      assert.equal(attrs.type, seen.kind);
      if (node.kind === 'file') assert.equal(attrs.size, node.size);
    } else {
      await assert.rejects(fs.getattr(id), (e: unknown) => isFsError(e, 'STALE'), `getattr of gone '${seen.path}'`);
    }
  }
  // Remember what this walk handed out.
  for (const [path, what] of served) {
    const parts = path.split('/');
    let dirId = fs.rootId;
    for (const name of parts.slice(0, -1)) dirId = (await fs.lookup(dirId, name)).id;
    const got = await fs.lookup(dirId, parts[parts.length - 1]!);
    const kind = what === 'dir' ? 'dir' : 'file';
    const before = [...issued].find(([, s]) => s.path === path && s.kind === kind);
    if (before) assert.equal(got.id, before[0], `'${path}' keeps its id`);
    issued.set(got.id, { path, kind });
  }
}

for (const prefix of ['', 'p/']) {
  test(`namespace matches the reference model under random changes (prefix '${prefix}')`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(keyFor(prefix), { maxLength: 12 }),
        fc.array(opFor(prefix), { maxLength: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.infiniteStream(fc.integer({ min: 1, max: 3 })),
        async (initial, ops, s3Page, listPage, withAttributes, budgets) => {
          const memory = new MemoryObjectStore({ pageSize: s3Page });
          for (const key of initial) memory.putSync(key, 'y'.repeat(key.length % 7));
          const local = new FakeLocalState();
          const handles = await HandleStore.open({ bucket: 'bucket', prefix });
          const fs = new S3FileSystem({ store: memory, handles, prefix, localState: local, listPageSize: listPage });
          const budgetIt = budgets[Symbol.iterator]();
          const budget = () => budgetIt.next().value as number;
          const issued = new Map<bigint, Seen>();
          await checkAgainstModel(fs, memory, local, prefix, budget, withAttributes, issued);
          for (const op of ops) {
            apply(op, memory, local);
            await checkAgainstModel(fs, memory, local, prefix, budget, withAttributes, issued);
          }
        },
      ),
      { numRuns: 80, includeErrorInReport: true },
    );
  });
}

test('with a metadata TTL, answers are fresh again once the TTL has passed', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(keyFor(''), { maxLength: 10 }),
      fc.array(opFor(''), { maxLength: 5 }),
      fc.integer({ min: 1, max: 3 }),
      async (initial, ops, page) => {
        let now = 1_000_000;
        const memory = new MemoryObjectStore({ pageSize: page });
        for (const key of initial) memory.putSync(key, 'z');
        const local = new FakeLocalState();
        const handles = await HandleStore.open({ bucket: 'bucket', prefix: '' });
        const fs = new S3FileSystem({
          store: memory,
          handles,
          localState: local,
          listPageSize: page,
          metadataTtlMs: 5000,
          negativeTtlMs: 2000,
          clock: () => now,
        });
        const issued = new Map<bigint, Seen>();
        await checkAgainstModel(fs, memory, local, '', () => 2, true, issued);
        for (const op of ops) {
          apply(op, memory, local);
          now += 5001;
          await checkAgainstModel(fs, memory, local, '', () => 2, true, issued);
        }
      },
    ),
    { numRuns: 40, includeErrorInReport: true },
  );
});
