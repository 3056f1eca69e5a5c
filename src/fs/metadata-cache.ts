// The last thing this server learned about each path, and when. Entries older than the TTL are not
// trusted for answers, but they are kept (up to a bound) because they still serve two purposes:
// the ETag a READ should ask for, and noticing that a path changed since we last looked (which
// moves the parent directory's change stamp).

import type { ObjectInfo } from '../s3/object-store.js';
import type { LocalFileInfo } from './local-state.js';

/** What a path is, as far as the bucket and local state say. */
export type Resolved =
  | { kind: 'dir'; origin: 'root' | 'remote' | 'local' }
  | { kind: 'file'; origin: 'remote'; object: ObjectInfo }
  | { kind: 'file'; origin: 'local'; local: LocalFileInfo };

export interface Observation {
  /** undefined: the path did not exist. */
  value: Resolved | undefined;
  /** When the look began (ms on the namespace clock). */
  at: number;
}

export class MetadataCache {
  private readonly entries = new Map<string, Observation>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(path: string): Observation | undefined {
    const hit = this.entries.get(path);
    if (hit) {
      // Refresh recency: Map keeps insertion order, so the first key is the least recently used.
      this.entries.delete(path);
      this.entries.set(path, hit);
    }
    return hit;
  }

  /** Reads without touching recency (for comparisons that should not keep an entry alive). */
  peek(path: string): Observation | undefined {
    return this.entries.get(path);
  }

  set(path: string, observation: Observation): void {
    this.entries.delete(path);
    this.entries.set(path, observation);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  delete(path: string): void {
    this.entries.delete(path);
  }
}

/** Two observations describe the same thing (so the parent directory did not change). */
export function sameResolved(a: Resolved | undefined, b: Resolved | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.kind === 'dir' || b.kind === 'dir') return a.kind === b.kind;
  if (a.origin === 'remote' && b.origin === 'remote') {
    return a.object.etag === b.object.etag && a.object.size === b.object.size;
  }
  // A file being written changes size all the time; that is not a change of its directory.
  return a.origin === b.origin;
}
