// One pass over a directory: pages a delimited ListObjectsV2, merges the local entries, applies the
// name rules (invalid names hidden, a directory shadows a file, a local file shadows a remote one)
// and hands out entries in directory order (names.ts: compareDirectoryOrder) while later pages are
// still to come.
//
// Why entries can be handed out early: S3 lists keys in UTF-8 byte order, and the entry named N is
// either the key N (a file) or the common prefix N/ (a directory); N < N/ in that order. Once the
// listing has passed N/ (its *frontier* is at or beyond it), nothing later can add or shadow N, and
// every name ordered before N has been settled too. So each page settles a run of names.

import { createHash, type Hash } from 'node:crypto';
import type { ListPage, ObjectInfo, ObjectStore } from '../s3/object-store.js';
import { fromStoreError } from './errors.js';
import type { EntryKind } from './handle-store.js';
import type { LocalEntry, LocalFileInfo } from './local-state.js';
import { compareDirectoryOrder, compareNameSlashWithKey, compareUtf8, isValidName } from './names.js';

export interface ListedEntry {
  name: string;
  kind: EntryKind;
  origin: 'remote' | 'local';
  /** A remote file: what the listing said about it. */
  object?: ObjectInfo;
  /** A local file: its staged size and mtime. */
  local?: LocalFileInfo;
}

export interface DirectoryListingOptions {
  store: ObjectStore;
  /** The directory's key prefix ('' for a bucket-root export, else ending in '/'). */
  keyPrefix: string;
  /** MaxKeys per LIST request. */
  pageSize: number;
  /** Local entries to merge, taken when the pass starts. */
  localEntries: readonly LocalEntry[];
  /** Called with each page as it arrives (the first one doubles as a change probe). */
  onPage?: (page: ListPage, index: number) => void;
}

export class DirectoryListing {
  private readonly pending = new Map<string, ListedEntry>();
  private token: string | undefined;
  private pages = 0;
  private fetchedAll = false;
  /** The greatest key (relative to the prefix) the listing has returned so far. */
  private frontier: string | undefined;
  private readonly hash: Hash = createHash('sha1');

  constructor(private readonly options: DirectoryListingOptions) {
    for (const local of options.localEntries) {
      if (!isValidName(local.name)) continue;
      const entry: ListedEntry = { name: local.name, kind: local.kind, origin: 'local' };
      if (local.file) entry.local = local.file;
      this.offer(entry);
    }
  }

  /** True once the last LIST page has arrived (entries may still be waiting to be handed out). */
  get exhausted(): boolean {
    return this.fetchedAll;
  }

  /** True once every entry has been handed out. */
  get done(): boolean {
    return this.fetchedAll && this.pending.size === 0;
  }

  /**
   * The next run of settled entries, in directory order: fetches one LIST page (unless the listing
   * is over) and returns what it settled, possibly nothing. Returns [] once `done`.
   */
  async next(): Promise<ListedEntry[]> {
    if (!this.fetchedAll) await this.fetchPage();
    const settled: ListedEntry[] = [];
    for (const [name, entry] of this.pending) {
      if (this.fetchedAll || (this.frontier !== undefined && compareNameSlashWithKey(name, this.frontier) <= 0)) {
        settled.push(entry);
      }
    }
    for (const entry of settled) this.pending.delete(entry.name);
    settled.sort((a, b) => compareDirectoryOrder(a.name, b.name));
    let digestInput = '';
    for (const e of settled) digestInput += `${e.name}\0${e.kind}\0${e.origin}\0${e.object?.etag ?? ''}\0${e.object?.size ?? ''}\n`;
    this.hash.update(digestInput);
    return settled;
  }

  /** A digest of everything handed out; once `done`, it identifies the directory's contents. */
  fingerprint(): string {
    return this.hash.copy().digest('hex');
  }

  private async fetchPage(): Promise<void> {
    const { store, keyPrefix, pageSize } = this.options;
    let page: ListPage;
    try {
      page = await store.list({
        prefix: keyPrefix,
        delimiter: '/',
        maxKeys: pageSize,
        ...(this.token === undefined ? {} : { continuationToken: this.token }),
      });
    } catch (err) {
      throw fromStoreError(err, `LIST ${keyPrefix}`);
    }
    this.options.onPage?.(page, this.pages++);
    for (const object of page.objects) {
      const name = object.key.slice(keyPrefix.length);
      this.advance(name);
      // The key equal to the prefix itself (a "directory marker") has the empty name: skipped.
      if (isValidName(name)) this.offer({ name, kind: 'file', origin: 'remote', object });
    }
    for (const prefix of page.prefixes) {
      const rel = prefix.slice(keyPrefix.length);
      this.advance(rel);
      const name = rel.slice(0, -1);
      if (isValidName(name)) this.offer({ name, kind: 'dir', origin: 'remote' });
    }
    this.token = page.nextToken;
    if (page.nextToken === undefined) this.fetchedAll = true;
  }

  private advance(rel: string): void {
    if (this.frontier === undefined || compareUtf8(rel, this.frontier) > 0) this.frontier = rel;
  }

  /** Adds a candidate for a name, keeping the one that wins: dir > local file > remote file. */
  private offer(entry: ListedEntry): void {
    const current = this.pending.get(entry.name);
    if (!current || rank(entry) > rank(current)) this.pending.set(entry.name, entry);
  }
}

function rank(entry: ListedEntry): number {
  if (entry.kind === 'dir') return entry.origin === 'remote' ? 4 : 3;
  return entry.origin === 'local' ? 2 : 1;
}
