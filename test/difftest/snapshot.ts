// A whole tree as one sorted list (path, type, size, content sha256), read the way an application
// would: readdir, then lstat and read of every entry. Comparing two of them after every operation
// finds differences the operation's own result does not show (a file that vanished, a stale size).
import type { BigIntStats, Dirent } from 'node:fs';
import { lstat, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from './apply.js';
import { sha256 } from './content.js';

export interface TreeEntry {
  path: string;
  kind: 'file' | 'dir' | 'other';
  size?: number;
  sha256?: string;
  /** The errno when the entry could not be examined or read. */
  error?: string;
}

/**
 * Content hashes by path, reused while a file's inode, size, mtime and ctime stay the same. Only
 * for the reference tree: the point of hashing the tree under test is not to trust its metadata.
 */
export type HashCache = Map<string, { stamp: string; sha256: string }>;

type HashPolicy = (path: string) => boolean;

const byPath = (a: TreeEntry, b: TreeEntry): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** One entry, from lstat (and a read when `hash` says so). */
async function examine(root: string, rel: string, hash: HashPolicy, cache?: HashCache): Promise<TreeEntry> {
  const abs = path.join(root, rel);
  let stats: BigIntStats;
  try {
    stats = await lstat(abs, { bigint: true });
  } catch (err) {
    return { path: rel, kind: 'other', error: `lstat: ${errnoCode(err)}` };
  }
  if (!stats.isFile()) return { path: rel, kind: stats.isDirectory() ? 'dir' : 'other' };
  const entry: TreeEntry = { path: rel, kind: 'file', size: Number(stats.size) };
  if (!hash(rel)) return entry;
  const stamp = `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
  const known = cache?.get(rel);
  if (known?.stamp === stamp) {
    entry.sha256 = known.sha256;
    return entry;
  }
  try {
    const data = await readFile(abs);
    entry.sha256 = sha256(data);
    if (data.length !== entry.size) entry.error = `read ${data.length} bytes of a file of ${entry.size}`;
    else cache?.set(rel, { stamp, sha256: entry.sha256 });
  } catch (err) {
    entry.error = `read: ${errnoCode(err)}`;
  }
  return entry;
}

/** Everything below directory `dir` ('' = the root) that `enter` lets it see, appended to `out`. */
async function walk(
  root: string,
  dir: string,
  out: TreeEntry[],
  hash: HashPolicy,
  cache?: HashCache,
  enter: (dir: string) => boolean = () => true,
): Promise<void> {
  // Outside the entered subtrees (a partial read), files are known by name and type alone.
  const examineFile = (rel: string) =>
    rel.includes('/') || enter(rel) ? examine(root, rel, hash, cache) : Promise.resolve<TreeEntry>({ path: rel, kind: 'file' });
  let dirents: Dirent[];
  try {
    dirents = await readdir(dir === '' ? root : path.join(root, dir), { withFileTypes: true });
  } catch (err) {
    out.push({ path: dir, kind: 'dir', error: `readdir: ${errnoCode(err)}` });
    return;
  }
  for (const dirent of dirents) {
    const rel = dir === '' ? dirent.name : `${dir}/${dirent.name}`;
    // Directories are taken from the listing's types (READDIRPLUS has them); files need their size.
    if (dirent.isDirectory()) {
      out.push({ path: rel, kind: 'dir' });
      if (enter(rel)) await walk(root, rel, out, hash, cache, enter);
    } else if (dirent.isFile()) {
      out.push(await examineFile(rel));
    } else {
      out.push(await examine(root, rel, hash, cache));
    }
  }
}

/**
 * Every entry under `root` (the root itself excluded), sorted by path. `hash(path)` says which
 * files to read and hash; the others get type and size only.
 */
export async function snapshotTree(root: string, hash: HashPolicy, cache?: HashCache): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  await walk(root, '', out, hash, cache);
  return out.sort(byPath);
}

/**
 * The top-level entries (files by name and type only, unless named in `tops`), and everything below
 * the top-level directories named in `tops`.
 */
export async function snapshotPartial(root: string, tops: ReadonlySet<string>, hash: HashPolicy): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  await walk(root, '', out, hash, undefined, (dir) => tops.has(dir.split('/')[0]!));
  return out.sort(byPath);
}

/** The entries of a whole tree that snapshotPartial with the same `tops` would show. */
export function partialView(entries: readonly TreeEntry[], tops: ReadonlySet<string>): TreeEntry[] {
  const inTops = (p: string) => tops.has(p.split('/')[0]!);
  return entries.flatMap((e) => (inTops(e.path) ? [e] : e.path.includes('/') ? [] : [{ path: e.path, kind: e.kind }]));
}

/**
 * The reference tree, which changes only through the operations the difftest applies: after an
 * operation only the top-level subtrees it named are read again (every file hashed, through the
 * hash cache). In a UML guest every system call is expensive, and this halves them.
 */
export class ReferenceTree {
  private entries: TreeEntry[] = [];
  private readonly hashes: HashCache = new Map();

  constructor(private readonly root: string) {}

  /** The tree after an operation that named `paths`; 'all' reads everything again. */
  async refresh(paths: readonly string[] | 'all'): Promise<TreeEntry[]> {
    const all = () => true;
    if (paths === 'all' || paths.includes('')) {
      this.entries = await snapshotTree(this.root, all, this.hashes);
      return this.entries;
    }
    const tops = new Set(paths.map((p) => p.split('/')[0]!));
    const inTops = (p: string) => tops.has(p.split('/')[0]!);
    const out = this.entries.filter((e) => !inTops(e.path));
    for (const top of tops) {
      const entry = await examine(this.root, top, all, this.hashes);
      if (entry.error?.startsWith('lstat: ENOENT')) continue;
      out.push(entry);
      if (entry.kind === 'dir') await walk(this.root, top, out, all, this.hashes);
    }
    this.entries = out.sort(byPath);
    return this.entries;
  }
}

function show(e: TreeEntry): string {
  return e.kind === 'file' ? `file, ${e.size} bytes` : e.kind;
}

export interface TreeDifference {
  path: string;
  /**
   * missing: on the local tree only; extra: on the mount only; kind, size, content: both have it,
   * differently; error: one tree could not be read there ('' = the root itself).
   */
  kind: 'missing' | 'extra' | 'kind' | 'size' | 'content' | 'error';
  /** For 'missing': what the local tree has there. */
  localKind?: TreeEntry['kind'];
  message: string;
}

/** Differences between the reference (local) tree and the tree under test (mount). */
export function compareTrees(local: readonly TreeEntry[], mount: readonly TreeEntry[]): TreeDifference[] {
  const diffs: TreeDifference[] = [];
  const where = (p: string) => (p === '' ? 'the root of the tree' : JSON.stringify(p));
  const note = (path: string, kind: TreeDifference['kind'], message: string, localKind?: TreeEntry['kind']) =>
    diffs.push({ path, kind, message: `${where(path)}: ${message}`, ...(localKind ? { localKind } : {}) });
  const theirs = new Map(mount.map((e) => [e.path, e]));
  for (const ours of local) {
    const other = theirs.get(ours.path);
    theirs.delete(ours.path);
    if (ours.error) note(ours.path, 'error', `the local tree failed: ${ours.error}`);
    if (!other) {
      note(ours.path, 'missing', `missing on the mount (local: ${show(ours)})`, ours.kind);
      continue;
    }
    if (other.error) note(ours.path, 'error', `on the mount: ${other.error}`);
    if (ours.kind !== other.kind) {
      note(ours.path, 'kind', `local ${ours.kind}, mount ${other.kind}`);
      continue;
    }
    if (ours.kind === 'file' && ours.size !== undefined && other.size !== undefined && ours.size !== other.size) {
      note(ours.path, 'size', `size local ${ours.size}, mount ${other.size}`);
    }
    if (ours.sha256 !== undefined && other.sha256 !== undefined && ours.sha256 !== other.sha256) {
      note(ours.path, 'content', `content sha256 local ${ours.sha256.slice(0, 16)}…, mount ${other.sha256.slice(0, 16)}…`);
    }
  }
  for (const extra of theirs.values()) {
    if (extra.path === '' && extra.error) note('', 'error', `on the mount: ${extra.error}`);
    else note(extra.path, 'extra', `only on the mount (${show(extra)})${extra.error ? `: ${extra.error}` : ''}`);
  }
  return diffs;
}
