// Test helpers for src/fs: a scriptable LocalState, and a walker that reads a whole tree through the
// FileSystem facade the way an NFS client would (READDIR/READDIRPLUS paging + LOOKUP), checking
// along the way that the two agree.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FsTime } from '../../../src/fs/attributes.js';
import type { FileSystem, ReaddirEntry } from '../../../src/fs/file-system.js';
import type { LocalEntry, LocalFileInfo, LocalState } from '../../../src/fs/local-state.js';

export class FakeLocalState implements LocalState {
  readonly dirs = new Set<string>();
  readonly files = new Map<string, LocalFileInfo>();

  addDir(path: string): void {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) this.dirs.add(parts.slice(0, i).join('/'));
  }

  addFile(path: string, size: number, mtime: FsTime = { sec: 1_700_000_000, nsec: 0 }): void {
    this.files.set(path, { size, mtime });
  }

  isLocalDirectory(path: string): boolean {
    return this.dirs.has(path);
  }

  localFile(path: string): LocalFileInfo | undefined {
    return this.files.get(path);
  }

  localChildren(dirPath: string): readonly LocalEntry[] {
    const out: LocalEntry[] = [];
    const inside = (path: string): string | undefined => {
      const cut = path.lastIndexOf('/');
      const parent = cut < 0 ? '' : path.slice(0, cut);
      return parent === dirPath ? path.slice(cut + 1) : undefined;
    };
    for (const d of this.dirs) {
      const name = inside(d);
      if (name !== undefined) out.push({ name, kind: 'dir' });
    }
    for (const [f, info] of this.files) {
      const name = inside(f);
      if (name !== undefined) out.push({ name, kind: 'file', file: info });
    }
    return out;
  }

  async readLocalFile(path: string, offset: number, count: number): Promise<{ data: Buffer; eof: boolean }> {
    const file = this.files.get(path);
    if (!file) throw new Error(`no local file ${path}`);
    const end = Math.min(file.size, offset + count);
    return { data: Buffer.alloc(Math.max(0, end - offset), 0x6c), eof: end >= file.size };
  }
}

export interface WalkOptions {
  /** maxEntries for each READDIR call (called once per call). */
  budget: () => number;
  withAttributes: boolean;
}

/** Every entry of one directory, paging with the given budgets; asserts each name comes once. */
export async function readWholeDirectory(fs: FileSystem, dirId: bigint, options: WalkOptions): Promise<ReaddirEntry[]> {
  const out: ReaddirEntry[] = [];
  const seen = new Set<string>();
  let cookie = 0n;
  let verifier = 0n;
  for (let calls = 0; ; calls++) {
    assert.ok(calls < 1_000_000, 'READDIR never reached eof');
    const reply = await fs.readdir(dirId, { cookie, verifier, withAttributes: options.withAttributes, maxEntries: options.budget() });
    for (const e of reply.entries) {
      assert.ok(!seen.has(e.name), `READDIR returned '${e.name}' twice`);
      seen.add(e.name);
      assert.ok(e.cookie > cookie, 'cookies increase');
      cookie = e.cookie;
      out.push(e);
    }
    verifier = reply.verifier;
    if (reply.eof) return out;
    assert.ok(reply.entries.length > 0, 'a non-final READDIR reply has entries');
  }
}

/**
 * Walks the tree from the root: returns { path → 'dir' | 'file:SIZE' } and checks that LOOKUP of
 * each listed name gives the same id and attributes READDIR(PLUS) gave, and that '.' and '..' are
 * right.
 */
export async function walkTree(fs: FileSystem, options: WalkOptions): Promise<Map<string, string>> {
  const tree = new Map<string, string>();
  const visit = async (dirId: bigint, parentId: bigint, at: string): Promise<void> => {
    const entries = await readWholeDirectory(fs, dirId, options);
    const dot = entries.find((e) => e.name === '.');
    const dotdot = entries.find((e) => e.name === '..');
    assert.equal(dot?.fileid, dirId, `'.' of '${at}'`);
    assert.equal(dotdot?.fileid, parentId, `'..' of '${at}'`);
    for (const e of entries) {
      if (e.name === '.' || e.name === '..') continue;
      const path = at === '' ? e.name : `${at}/${e.name}`;
      const looked = await fs.lookup(dirId, e.name);
      assert.equal(looked.id, e.fileid, `LOOKUP and READDIR give '${path}' the same id`);
      assert.equal(looked.attributes.fileid, e.fileid);
      if (options.withAttributes) {
        assert.ok(e.attributes, `READDIRPLUS has attributes for '${path}'`);
        assert.equal(e.attributes.type, looked.attributes.type, `type of '${path}'`);
        assert.equal(e.attributes.size, looked.attributes.size, `size of '${path}'`);
        assert.equal(e.attributes.fileid, e.fileid);
      }
      if (looked.attributes.type === 'dir') {
        tree.set(path, 'dir');
        await visit(looked.id, dirId, path);
      } else {
        tree.set(path, `file:${looked.attributes.size}`);
      }
    }
  };
  await visit(fs.rootId, fs.rootId, '');
  return tree;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 's3nfs-fs-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function sortedEntries(map: Map<string, string>): [string, string][] {
  return [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
