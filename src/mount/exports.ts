// The exports a MOUNT server offers and who has mounted them. An export is named `/<bucket>` or
// `/<bucket>/<prefix>`; clients may ask for it with or without a trailing slash.

import type { FileSystem } from '../fs/file-system.js';

export interface Export {
  /** The path clients mount, e.g. `/photos` or `/photos/2024`. */
  readonly path: string;
  readonly fs: FileSystem;
}

/** The export path of a bucket and a prefix ('' or ending in '/'). */
export function exportPath(bucket: string, prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  return p === '' ? `/${bucket}` : `/${bucket}/${p}`;
}

/** A requested directory as an export path would be written: trailing slashes dropped. */
export function normalizeMountPath(dirpath: string): string {
  const trimmed = dirpath.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/** What a MNT path names: an export, and the directory names to follow from its root ([] = the root). */
export interface MountTarget {
  readonly export: Export;
  readonly components: readonly string[];
}

/**
 * The export a MNT path is in, and the path inside it. Like knfsd's mountd, a directory below an
 * export may be mounted too (libnfs mounts the parent directory of the file it is asked for).
 * Empty components are skipped; `.` and `..` never resolve, so nothing outside an export can be named.
 */
export function findExport(exports: readonly Export[], dirpath: string): MountTarget | undefined {
  const wanted = normalizeMountPath(dirpath);
  // The deepest export containing the path wins (`/b/p/x` is in `/b/p` before `/b`).
  const deepestFirst = [...exports].sort((a, b) => b.path.length - a.path.length);
  for (const e of deepestFirst) {
    if (wanted === e.path) return { export: e, components: [] };
    if (!wanted.startsWith(`${e.path}/`)) continue;
    const components = wanted.slice(e.path.length + 1).split('/').filter((c) => c !== '');
    if (components.some((c) => c === '.' || c === '..')) return undefined;
    return { export: e, components };
  }
  return undefined;
}

export interface MountEntry {
  readonly hostname: string;
  readonly directory: string;
}

/**
 * Who mounted what (MOUNT DUMP), in memory only: like the knfsd rmtab it is advisory, clients
 * that vanish without UMNT stay listed.
 */
export class MountList {
  private readonly entries = new Map<string, MountEntry>();

  constructor(private readonly maxEntries = 4096) {}

  add(hostname: string, directory: string): void {
    const key = `${hostname}\0${directory}`;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { hostname, directory });
  }

  remove(hostname: string, directory: string): void {
    this.entries.delete(`${hostname}\0${directory}`);
  }

  removeHost(hostname: string): void {
    for (const [key, e] of this.entries) if (e.hostname === hostname) this.entries.delete(key);
  }

  list(): MountEntry[] {
    return [...this.entries.values()];
  }
}
