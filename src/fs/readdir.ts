// READDIR / READDIRPLUS paging with stable cookies.
//
// A client reads a directory in many small replies, each resuming from the cookie of the last entry
// it got. To give it every name exactly once while S3 pages come in 1,000 at a time and other S3
// clients change the bucket, the first call (cookie 0) starts a *snapshot*: one pass of a
// DirectoryListing, filled page by page as the client advances and kept for a while afterwards.
// The snapshot's id is the cookie verifier; a cookie is a position in the snapshot:
//   cookie 1 = after '.', 2 = after '..', 2 + i + 1 = after entry i.
// A cookie whose verifier names no snapshot we hold (evicted, server restarted) is BAD_COOKIE: the
// client has to read the directory again from cookie 0.

import { randomInt } from 'node:crypto';
import type { ObjectInfo } from '../s3/object-store.js';
import { fsError } from './errors.js';
import type { EntryKind, HandleStore } from './handle-store.js';
import type { LocalFileInfo } from './local-state.js';
import { DirectoryListing, type ListedEntry } from './directory-listing.js';
import type { Namespace } from './namespace.js';
import type { Resolved } from './metadata-cache.js';
import { childPath, dirKeyPrefix, parentPath } from './names.js';

export interface ReaddirLimits {
  /** Most entries to return. */
  maxEntries: number;
  /** Most bytes the entries may take, as `entryBytes` counts them (the NFS layer knows the XDR sizes). */
  maxBytes?: number;
  entryBytes?: (name: string) => number;
}

export interface DirectoryEntry {
  name: string;
  kind: EntryKind;
  fileid: bigint;
  /** Pass back to continue after this entry. */
  cookie: bigint;
  origin: 'remote' | 'local' | 'self';
  object?: ObjectInfo;
  local?: LocalFileInfo;
}

export interface ReaddirResult {
  entries: DirectoryEntry[];
  verifier: bigint;
  eof: boolean;
}

export interface SnapshotOptions {
  /** Snapshots kept at most (least recently used go first). Default 128. */
  maxSnapshots?: number;
  /** Entries kept at most over all snapshots. Default 2,000,000. */
  maxEntries?: number;
  /** A snapshot unused this long is dropped. Default 10 minutes. */
  idleMs?: number;
}

interface SnapshotEntry {
  name: string;
  kind: EntryKind;
  fileid: bigint;
  origin: 'remote' | 'local';
  object?: ObjectInfo;
  local?: LocalFileInfo;
}

/** Cookies are positions; no listing is longer than this. */
const MAX_COOKIE = BigInt(Number.MAX_SAFE_INTEGER);

/** One pass over one directory, filled as clients page through it. */
class ListingSnapshot {
  readonly entries: SnapshotEntry[] = [];
  private readonly names = new Set<string>();
  private listing: DirectoryListing | undefined;
  private filling: Promise<void> | undefined;
  /** The listing's next run, asked for ahead; `at` is when (observations must not postdate the LIST). */
  private upcoming: { at: number; run: Promise<ListedEntry[]> } | undefined;
  complete = false;
  /** The listing saw at least one key under the directory's prefix (so the directory exists). */
  sawKeys = false;
  /** Set when entries were lost (their ids could not be recorded): the pass cannot go on. */
  broken: unknown;
  lastUsed: number;

  constructor(
    readonly verifier: bigint,
    readonly dirId: bigint,
    readonly dirPath: string,
    readonly createdAt: number,
    private readonly namespace: Namespace,
    private readonly handles: HandleStore,
    pageSize: number,
  ) {
    this.lastUsed = createdAt;
    const local = namespace.options.local;
    this.listing = new DirectoryListing({
      store: namespace.options.store,
      keyPrefix: dirKeyPrefix(namespace.prefix, dirPath),
      pageSize,
      localEntries: local.localChildren(dirPath),
      onPage: (page, index) => {
        if (page.objects.length > 0 || page.prefixes.length > 0) this.sawKeys = true;
        if (index === 0) namespace.notePage(dirPath, page, createdAt);
      },
    });
  }

  /** Fills until at least `count` entries are known or the pass is complete. */
  async ensure(count: number): Promise<void> {
    while (this.entries.length < count && !this.complete) {
      if (this.broken !== undefined) throw this.broken;
      await this.fill();
    }
  }

  /**
   * Fills up to `count` entries in the background, so a client paging through the directory finds its
   * next reply's entries listed instead of waiting for S3 (LIST pages come one after the other; this
   * keeps them coming while the client reads). A failure is left for the next ensure() to retry or report.
   */
  readAhead(count: number): void {
    if (this.complete || this.broken !== undefined || this.entries.length >= count) return;
    this.ensure(count).catch(() => undefined);
  }

  private fill(): Promise<void> {
    this.filling ??= this.fillOnce().finally(() => (this.filling = undefined));
    return this.filling;
  }

  private nextRun(listing: DirectoryListing): { at: number; run: Promise<ListedEntry[]> } {
    return { at: this.namespace.now(), run: listing.next() };
  }

  private async fillOnce(): Promise<void> {
    const listing = this.listing!;
    const { at, run } = this.upcoming ?? this.nextRun(listing);
    this.upcoming = undefined;
    // A failed LIST leaves the listing where it was, so the next call simply retries it.
    const settled = (await run).filter((e) => !this.names.has(e.name));
    // The next page is asked for while this one's ids are recorded (a disk write): the first
    // listing of a big directory then waits for one of the two, not both, per page.
    if (!listing.exhausted) {
      this.upcoming = this.nextRun(listing);
      this.upcoming.run.catch(() => undefined); // its failure is met (and retried) by the fill that takes it
    }
    let ids: bigint[];
    try {
      // One group commit for the whole run: every entry has a durable id before any reply names it.
      ids = await this.handles.assignMany(settled.map((e) => ({ kind: e.kind, path: childPath(this.dirPath, e.name) })));
    } catch (err) {
      this.broken = err;
      throw err;
    }
    settled.forEach((e, i) => {
      this.names.add(e.name);
      this.entries.push(toSnapshotEntry(e, ids[i]!));
      const seen = remoteObservation(e);
      if (seen) this.namespace.observe(childPath(this.dirPath, e.name), seen, at);
    });
    if (listing.done && this.upcoming === undefined) {
      this.complete = true;
      this.namespace.noteFullListing(this.dirPath, listing.fingerprint());
      this.listing = undefined;
      this.names.clear();
    }
  }
}

export class DirectoryReader {
  private readonly snapshots = new Map<bigint, ListingSnapshot>();
  private readonly latest = new Map<string, ListingSnapshot>();
  private readonly bootId = BigInt(randomInt(1, 0x7fffffff)) << 32n;
  private counter = 0n;
  private readonly maxSnapshots: number;
  private readonly maxEntries: number;
  private readonly idleMs: number;

  constructor(
    private readonly namespace: Namespace,
    private readonly handles: HandleStore,
    private readonly pageSize: number,
    options: SnapshotOptions = {},
  ) {
    this.maxSnapshots = options.maxSnapshots ?? 128;
    this.maxEntries = options.maxEntries ?? 2_000_000;
    this.idleMs = options.idleMs ?? 10 * 60_000;
  }

  /** Snapshots held right now (for tests and metrics). */
  get heldSnapshots(): number {
    return this.snapshots.size;
  }

  async read(dirId: bigint, dirPath: string, cookie: bigint, verifier: bigint, limits: ReaddirLimits): Promise<ReaddirResult> {
    const now = this.namespace.now();
    this.sweep(now);
    const snapshot = cookie === 0n ? this.start(dirId, dirPath, now) : this.find(dirId, cookie, verifier);
    snapshot.lastUsed = now;

    const parentId = snapshot.dirPath === '' ? snapshot.dirId : await this.handles.assign('dir', parentPath(snapshot.dirPath));
    const out: DirectoryEntry[] = [];
    let bytes = 0;
    let at = Number(cookie);
    const budget = limits.maxBytes ?? Number.POSITIVE_INFINITY;
    while (out.length < limits.maxEntries) {
      if (!(await this.available(snapshot, at))) break;
      const entry = entryAt(snapshot, at, parentId);
      const size = limits.entryBytes ? limits.entryBytes(entry.name) : 0;
      if (bytes + size > budget) break;
      bytes += size;
      entry.cookie = BigInt(at + 1);
      out.push(entry);
      at++;
    }
    if (cookie === 0n && snapshot.complete && snapshot.entries.length === 0 && !this.exists(snapshot)) {
      this.drop(snapshot);
      throw fsError('STALE', `directory '${dirPath}' no longer exists`);
    }
    const eof = !(await this.available(snapshot, at));
    // Ahead of the client: its next reply (as big as this one) and a LIST page beyond.
    if (!eof) snapshot.readAhead(at - 2 + out.length + this.pageSize);
    this.evictOverflow();
    if (out.length === 0 && !eof) throw fsError('TOOSMALL', 'the reply budget does not fit one entry');
    return { entries: out, verifier: snapshot.verifier, eof };
  }

  /** Drops cached listings of a directory (after a local change the next READDIR must see). */
  invalidate(dirPath: string): void {
    this.latest.delete(dirPath);
  }

  private exists(snapshot: ListingSnapshot): boolean {
    return snapshot.dirPath === '' || snapshot.sawKeys || this.namespace.options.local.isLocalDirectory(snapshot.dirPath);
  }

  /** True when position `at` holds an entry (0 '.', 1 '..', then the listing), filling as needed. */
  private async available(snapshot: ListingSnapshot, at: number): Promise<boolean> {
    if (at < 2) return true;
    const index = at - 2;
    if (index >= snapshot.entries.length && !snapshot.complete) await snapshot.ensure(index + 1);
    return index < snapshot.entries.length;
  }

  private start(dirId: bigint, dirPath: string, now: number): ListingSnapshot {
    const recent = this.latest.get(dirPath);
    // Within the metadata TTL a new pass may reuse the last one (cached listings: fast repeated ls).
    if (
      recent &&
      recent.dirId === dirId &&
      recent.broken === undefined &&
      now - recent.createdAt < this.namespace.options.metadataTtlMs &&
      this.snapshots.has(recent.verifier)
    ) {
      return recent;
    }
    this.counter = (this.counter + 1n) & 0xffffffffn;
    const verifier = this.bootId | this.counter;
    const snapshot = new ListingSnapshot(verifier, dirId, dirPath, now, this.namespace, this.handles, this.pageSize);
    this.snapshots.set(verifier, snapshot);
    this.latest.set(dirPath, snapshot);
    this.evictOverflow();
    return snapshot;
  }

  private find(dirId: bigint, cookie: bigint, verifier: bigint): ListingSnapshot {
    const snapshot = this.snapshots.get(verifier);
    if (!snapshot || snapshot.dirId !== dirId) {
      throw fsError('BAD_COOKIE', `cookie ${cookie}: no listing with verifier ${verifier.toString(16)} is held`);
    }
    if (cookie > MAX_COOKIE || (cookie > BigInt(snapshot.entries.length + 2) && snapshot.complete)) {
      throw fsError('BAD_COOKIE', `cookie ${cookie} is past the end of listing ${verifier.toString(16)}`);
    }
    // Most recently used last, so eviction walks from the front.
    this.snapshots.delete(verifier);
    this.snapshots.set(verifier, snapshot);
    return snapshot;
  }

  private drop(snapshot: ListingSnapshot): void {
    this.snapshots.delete(snapshot.verifier);
    if (this.latest.get(snapshot.dirPath) === snapshot) this.latest.delete(snapshot.dirPath);
  }

  private sweep(now: number): void {
    for (const snapshot of this.snapshots.values()) {
      if (now - snapshot.lastUsed >= this.idleMs) this.drop(snapshot);
    }
  }

  private evictOverflow(): void {
    let total = 0;
    for (const s of this.snapshots.values()) total += s.entries.length;
    for (const s of this.snapshots.values()) {
      if (this.snapshots.size <= this.maxSnapshots && total <= this.maxEntries) break;
      if (this.snapshots.size === 1) break;
      total -= s.entries.length;
      this.drop(s);
    }
  }
}

/** The entry at an available position. */
function entryAt(snapshot: ListingSnapshot, at: number, parentId: bigint): DirectoryEntry {
  if (at === 0) return { name: '.', kind: 'dir', fileid: snapshot.dirId, cookie: 0n, origin: 'self' };
  if (at === 1) return { name: '..', kind: 'dir', fileid: parentId, cookie: 0n, origin: 'self' };
  const e = snapshot.entries[at - 2]!;
  const out: DirectoryEntry = { name: e.name, kind: e.kind, fileid: e.fileid, cookie: 0n, origin: e.origin };
  if (e.object) out.object = e.object;
  if (e.local) out.local = e.local;
  return out;
}

function toSnapshotEntry(e: ListedEntry, fileid: bigint): SnapshotEntry {
  const out: SnapshotEntry = { name: e.name, kind: e.kind, fileid, origin: e.origin };
  if (e.object) out.object = e.object;
  if (e.local) out.local = e.local;
  return out;
}

/** What a listed entry says about S3 alone (local entries are not S3 observations). */
function remoteObservation(e: ListedEntry): Resolved | undefined {
  if (e.origin !== 'remote') return undefined;
  if (e.kind === 'dir') return { kind: 'dir', origin: 'remote' };
  return { kind: 'file', origin: 'remote', object: e.object! };
}
