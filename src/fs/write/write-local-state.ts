// The namespace's LocalState (src/fs/local-state.ts) backed by the write path: staged files are
// local files, their parent directories exist locally (a staged `a/b/f` makes `a` and `a/b`
// directories even before anything is in S3, and after a restart), and MKDIR'd directories are
// kept here in memory until RMDIR, as Mountpoint does.
//
// Paths are relative to the export; keys are prefix + path.

import { timeFromMs } from '../attributes.js';
import { fromStoreError, fsError } from '../errors.js';
import type { LocalEntry, LocalFileInfo, LocalState } from '../local-state.js';
import { isObjectStoreError, type ObjectStore } from '../../s3/object-store.js';
import type { WritePath } from './write-path.js';

export class WriteLocalState implements LocalState {
  private readonly directories = new Set<string>();

  constructor(
    private readonly writes: WritePath,
    private readonly store: ObjectStore,
    /** The export's key prefix: '' or ending in '/'. */
    private readonly prefix: string,
  ) {}

  // ---- local directories (MKDIR / RMDIR) ------------------------------------------------------

  /** MKDIR: `path` and its ancestors exist here until removed. */
  addDirectory(path: string): void {
    for (let p = path; p !== ''; p = parentOf(p)) this.directories.add(p);
  }

  /** RMDIR of a directory made here. */
  removeDirectory(path: string): void {
    this.directories.delete(path);
  }

  /**
   * A file at `path` was published: the directories made here that hold it are ordinary S3
   * directories from now on (as in Mountpoint), so they stop being local. A directory that still
   * holds another directory made here stays. Returns the directories that stopped being local.
   */
  settleDirectories(path: string): string[] {
    const settled: string[] = [];
    for (let dir = parentOf(path); dir !== ''; dir = parentOf(dir)) {
      if (!this.directories.has(dir)) continue;
      const below = `${dir}/`;
      let holdsLocal = false;
      for (const other of this.directories) {
        if (other.startsWith(below)) {
          holdsLocal = true;
          break;
        }
      }
      if (holdsLocal) continue;
      this.directories.delete(dir);
      settled.push(dir);
    }
    return settled;
  }

  // ---- LocalState -----------------------------------------------------------------------------

  isLocalDirectory(path: string): boolean {
    if (this.directories.has(path)) return true;
    return this.writes.hasStagedUnder(`${this.prefix}${path}/`);
  }

  localFile(path: string): LocalFileInfo | undefined {
    const staged = this.writes.getAttributes(this.prefix + path);
    return staged ? { size: staged.size, mtime: timeFromMs(staged.mtime.getTime()) } : undefined;
  }

  localChildren(dirPath: string): readonly LocalEntry[] {
    const base = dirPath === '' ? '' : `${dirPath}/`;
    const byName = new Map<string, LocalEntry>();
    for (const dir of this.directories) {
      if (!dir.startsWith(base) || dir === dirPath) continue;
      const name = dir.slice(base.length).split('/')[0]!;
      byName.set(name, { name, kind: 'dir' });
    }
    const keyBase = this.prefix + base;
    const staged = this.writes.stagedChildren(keyBase);
    for (const dir of staged.dirs) {
      const name = dir.slice(keyBase.length, -1);
      byName.set(name, { name, kind: 'dir' });
    }
    for (const file of staged.files) {
      const name = file.key.slice(keyBase.length);
      if (name === '' || byName.has(name)) continue; // a directory shadows a file of the same name
      byName.set(name, { name, kind: 'file', file: { size: file.size, mtime: timeFromMs(file.mtime.getTime()) } });
    }
    return [...byName.values()];
  }

  /**
   * The staged bytes. If the staged copy was dropped after publishing between the caller's lookup
   * and this read, the same bytes are read from the object that was published (If-Match its ETag).
   */
  async readLocalFile(path: string, offset: number, count: number): Promise<{ data: Buffer; eof: boolean }> {
    const key = this.prefix + path;
    const staged = await this.writes.read(key, offset, count);
    if (staged) return staged;
    const published = this.writes.lastPublished(key);
    if (!published) throw fsError('STALE', `'${path}' is no longer staged`);
    const end = Math.min(published.size, offset + count);
    if (end <= offset) return { data: Buffer.alloc(0), eof: offset >= published.size };
    try {
      const got = await this.store.get({ key, range: { start: offset, end }, ifMatch: published.etag });
      return { data: got.body, eof: end >= published.size };
    } catch (err) {
      if (isObjectStoreError(err, 'PreconditionFailed') || isObjectStoreError(err, 'NotFound')) {
        throw fsError('STALE', `'${path}' changed in S3 since it was published`, err);
      }
      throw fromStoreError(err, `READ ${key}`);
    }
  }
}

function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut < 0 ? '' : path.slice(0, cut);
}
