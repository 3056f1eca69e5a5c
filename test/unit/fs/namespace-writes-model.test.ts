// The reference model (reference-model.ts) with local state made the way clients make it: MKDIR,
// CREATE + WRITE, REMOVE, RMDIR and publishing through an export, mixed with out-of-band PUT/DELETE
// by other S3 clients. After every step the whole tree served through READDIR(PLUS) + LOOKUP must
// equal the model of (bucket keys, directories made here, files staged here).
//
// The model's bookkeeping of local state, stated as rules:
// - MKDIR of p makes p and its ancestors directories made here;
// - CREATE + WRITE of p stages a file of that size; REMOVE drops it;
// - publishing moves every staged file into the bucket, and a directory made here stops being
//   local once a published file lies below it, unless it still holds another directory made here;
// - RMDIR of p (when it succeeds) forgets p as made here.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFsError } from '../../../src/fs/errors.js';
import { openExport, type OpenExport } from '../../../src/fs/export.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { lookupPath } from './export-helpers.js';
import { sortedEntries, walkTree } from './fs-helpers.js';
import { flatten, materialize, nodeAt, type ModelDir, type RemoteObject } from './reference-model.js';

const component = fc.constantFrom('a', 'b', 'c', 'é', '.', '', 'x\0');
const remoteKey = fc
  .tuple(fc.array(component, { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([parts, slash]) => parts.join('/') + (slash ? '/' : ''))
  .filter((k) => k.length > 0);
const name = fc.constantFrom('a', 'b', 'c', 'é');

type Op =
  | { op: 'put'; key: string; size: number }
  | { op: 'delete'; pick: number }
  | { op: 'mkdir'; dir: number; name: string }
  | { op: 'create'; dir: number; name: string; size: number }
  | { op: 'append'; pick: number; size: number }
  | { op: 'remove'; pick: number }
  | { op: 'rmdir'; pick: number }
  | { op: 'publish' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('put' as const), key: remoteKey, size: fc.nat({ max: 9 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('mkdir' as const), dir: fc.nat(), name }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('create' as const), dir: fc.nat(), name, size: fc.nat({ max: 9 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('append' as const), pick: fc.nat(), size: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rmdir' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ op: 'publish' as const }) },
);

class LocalModel {
  readonly dirs = new Set<string>();
  readonly files = new Map<string, number>();

  mkdir(p: string): void {
    for (let at = p; at !== ''; at = parentOf(at)) this.dirs.add(at);
  }

  published(p: string): void {
    for (let dir = parentOf(p); dir !== ''; dir = parentOf(dir)) {
      if (!this.dirs.has(dir)) continue;
      if ([...this.dirs].some((other) => other.startsWith(`${dir}/`))) continue;
      this.dirs.delete(dir);
    }
  }
}

function parentOf(p: string): string {
  const cut = p.lastIndexOf('/');
  return cut < 0 ? '' : p.slice(0, cut);
}

function remoteOf(memory: MemoryObjectStore): Map<string, RemoteObject> {
  return new Map(memory.keys().map((k) => [k, { size: memory.infoSync(k)!.size }]));
}

function modelOf(memory: MemoryObjectStore, local: LocalModel): ModelDir {
  return materialize(remoteOf(memory), local.dirs, local.files);
}

/** Paths of the model's directories ('' first) and files. */
function pathsOf(model: ModelDir): { dirs: string[]; files: string[] } {
  const dirs = [''];
  const files: string[] = [];
  for (const [p, what] of flatten(model)) (what === 'dir' ? dirs : files).push(p);
  return { dirs, files };
}

function childOf(dir: string, n: string): string {
  return dir === '' ? n : `${dir}/${n}`;
}

async function dirId(exp: OpenExport, dir: string): Promise<bigint> {
  return dir === '' ? exp.fs.rootId : (await lookupPath(exp.fs, dir)).id;
}

async function apply(step: Op, exp: OpenExport, memory: MemoryObjectStore, local: LocalModel): Promise<void> {
  const model = modelOf(memory, local);
  const { dirs, files } = pathsOf(model);
  const { fs } = exp;
  switch (step.op) {
    case 'put':
      memory.putSync(step.key, 'r'.repeat(step.size));
      return;
    case 'delete': {
      const keys = memory.keys();
      if (keys.length > 0) memory.deleteSync(keys[step.pick % keys.length]!);
      return;
    }
    case 'mkdir': {
      const parent = dirs[step.dir % dirs.length]!;
      const p = childOf(parent, step.name);
      const exists = nodeAt(model, p) !== undefined;
      try {
        await fs.mkdir(await dirId(exp, parent), step.name, {});
      } catch (e) {
        assert.ok(exists && isFsError(e, 'EXIST'), `MKDIR ${p}: ${String(e)}`);
        return;
      }
      assert.ok(!exists, `MKDIR ${p} succeeded over an existing entry`);
      local.mkdir(p);
      return;
    }
    case 'create': {
      const parent = dirs[step.dir % dirs.length]!;
      const p = childOf(parent, step.name);
      const exists = nodeAt(model, p) !== undefined;
      let made;
      try {
        made = await fs.create(await dirId(exp, parent), step.name, { mode: 'guarded', attributes: {} });
      } catch (e) {
        assert.ok(exists && isFsError(e, 'EXIST'), `CREATE ${p}: ${String(e)}`);
        return;
      }
      assert.ok(!exists, `GUARDED CREATE ${p} succeeded over an existing entry`);
      if (step.size > 0) await fs.write(made.id, 0, Buffer.alloc(step.size, 0x6c), 'unstable');
      local.files.set(p, step.size);
      return;
    }
    case 'append': {
      const staged = [...local.files.keys()].filter((p) => nodeAt(model, p)?.kind === 'file');
      if (staged.length === 0) return;
      const p = staged[step.pick % staged.length]!;
      const id = (await lookupPath(fs, p)).id;
      await fs.write(id, local.files.get(p)!, Buffer.alloc(step.size, 0x6d), 'file_sync');
      local.files.set(p, local.files.get(p)! + step.size);
      return;
    }
    case 'remove': {
      if (files.length === 0) return;
      const p = files[step.pick % files.length]!;
      await fs.remove(await dirId(exp, parentOf(p)), p.slice(p.lastIndexOf('/') + 1));
      local.files.delete(p);
      return;
    }
    case 'rmdir': {
      const candidates = dirs.filter((d) => d !== '');
      if (candidates.length === 0) return;
      const p = candidates[step.pick % candidates.length]!;
      const node = nodeAt(model, p);
      const empty = node?.kind === 'dir' && node.children.size === 0;
      try {
        await fs.rmdir(await dirId(exp, parentOf(p)), p.slice(p.lastIndexOf('/') + 1));
      } catch (e) {
        // A directory may hold keys whose names are hidden, so an empty-looking one can be NOTEMPTY.
        assert.ok(isFsError(e, 'NOTEMPTY'), `RMDIR ${p}: ${String(e)}`);
        return;
      }
      assert.ok(empty, `RMDIR ${p} succeeded on a directory with entries`);
      local.dirs.delete(p);
      return;
    }
    case 'publish': {
      const results = await exp.flush();
      assert.ok(results.every((r) => r.outcome === 'published'), JSON.stringify(results));
      for (const p of local.files.keys()) local.published(p);
      local.files.clear();
      return;
    }
  }
}

test('changes made through the FileSystem and by other S3 clients keep the tree equal to the reference model', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 's3nfs-writes-model-'));
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(remoteKey, { maxLength: 4 }),
        fc.array(op, { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        async (initial, ops, page, withAttributes) => {
          const memory = new MemoryObjectStore({ pageSize: page, minPartSize: 1 });
          for (const key of initial) memory.putSync(key, 'i');
          const exp = await openExport({
            store: memory,
            bucket: 'bucket',
            stateDir: path.join(root, String(run++)),
            allowDelete: true,
            publishDelayMs: 3_600_000,
            listPageSize: page,
            readTuning: { sweepIntervalMs: 0 },
            writeTuning: { retainPublishedMs: 0 },
          });
          const local = new LocalModel();
          try {
            for (const step of ops) {
              await apply(step, exp, memory, local);
              const served = await walkTree(exp.fs, { budget: () => 2, withAttributes });
              assert.deepEqual(sortedEntries(served), sortedEntries(flatten(modelOf(memory, local))), `after ${JSON.stringify(step)}`);
            }
          } finally {
            await exp.shutdown({ timeoutMs: 1000 });
          }
        },
      ),
      {
        numRuns: 100,
        includeErrorInReport: true,
        examples: [
          // A directory made here, a file published in it, then the file deleted by someone else:
          // the directory was an ordinary S3 one by then, so it goes too.
          [
            [],
            [
              { op: 'mkdir', dir: 0, name: 'a' },
              { op: 'mkdir', dir: 1, name: 'b' },
              { op: 'create', dir: 2, name: 'c', size: 3 },
              { op: 'publish' },
              { op: 'delete', pick: 0 },
            ],
            2,
            true,
          ],
        ],
      },
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
