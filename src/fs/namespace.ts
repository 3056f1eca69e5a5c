// The namespace: what a path is right now (file, directory, nothing), from the bucket and local
// state, with the metadata cache in front. Also each directory's change stamp: the mtime NFS clients
// see, moved whenever this server notices the directory's contents changed, so their cached
// listings and negative lookups get revalidated.

import { createHash } from 'node:crypto';
import type { ListPage, ObjectStore } from '../s3/object-store.js';
import { compareTimes, timeFromMs, type FsTime } from './attributes.js';
import { fromStoreError } from './errors.js';
import type { LocalState } from './local-state.js';
import { MetadataCache, sameResolved, type Observation, type Resolved } from './metadata-cache.js';
import { compareUtf8, dirKeyPrefix, fileKey, parentPath } from './names.js';

export interface NamespaceOptions {
  store: ObjectStore;
  /** Normalized mount prefix: '' or ending in '/'. */
  prefix: string;
  local: LocalState;
  /** How long a look at S3 answers later questions; 0 = ask S3 every time. */
  metadataTtlMs: number;
  /** How long "does not exist" answers later questions. */
  negativeTtlMs: number;
  /**
   * MaxKeys of the LIST that probes a directory for existence and changes (GETATTR of a directory).
   * READDIR's first page feeds the same check, so it must be at most READDIR's page size.
   */
  probeKeys: number;
  /** Bound on remembered paths. */
  maxCachedPaths: number;
  /** Milliseconds; injectable for tests. */
  clock: () => number;
  /** Every directory's stamp until a change is seen. */
  mountTime: FsTime;
}

interface DirState {
  stamp: FsTime;
  /** Digest of the last first-page probe. */
  probe?: string;
  probedAt?: number;
  /** Digest of the last complete listing. */
  full?: string;
}

export class Namespace {
  readonly cache: MetadataCache;
  private readonly inflight = new Map<string, Promise<Resolved | undefined>>();
  private readonly probes = new Map<string, Promise<boolean>>();
  private readonly dirs = new Map<string, DirState>();
  private lastStamp: FsTime;

  constructor(readonly options: NamespaceOptions) {
    this.cache = new MetadataCache(options.maxCachedPaths);
    this.lastStamp = options.mountTime;
  }

  get prefix(): string {
    return this.options.prefix;
  }

  now(): number {
    return this.options.clock();
  }

  /** The directory's current change stamp (its mtime/ctime). */
  stamp(dirPath: string): FsTime {
    return this.dirState(dirPath).stamp;
  }

  /** Records that a directory's contents changed (the write path calls this for local changes). */
  touchDirectory(dirPath: string): void {
    this.dirState(dirPath).stamp = this.nextStamp();
  }

  /**
   * Forgets what was seen at `path`: its cached answer and, if it is a directory, its last probe,
   * so the next question asks S3 again (the probe digest stays, so a change still moves the stamp).
   */
  forget(path: string): void {
    this.cache.delete(path);
    const state = this.dirs.get(path);
    if (state) delete state.probedAt;
  }

  /**
   * What `path` is now. Answers from the cache within the TTLs; otherwise asks S3 (HEAD of the key
   * and LIST of `key/` with MaxKeys 1, at the same time) and local state. Concurrent asks for one
   * path share the requests. `fresh` skips the cache and requests already under way.
   */
  async resolve(path: string, options: { fresh?: boolean } = {}): Promise<Resolved | undefined> {
    if (path === '') return { kind: 'dir', origin: 'root' };
    const { local } = this.options;
    if (local.isLocalDirectory(path)) return { kind: 'dir', origin: 'local' };
    const cached = options.fresh ? undefined : this.freshObservation(path);
    if (cached) return withLocalFile(cached.value, local, path);
    let running = options.fresh ? undefined : this.inflight.get(path);
    if (!running) {
      running = this.lookRemote(path).finally(() => this.inflight.delete(path));
      this.inflight.set(path, running);
    }
    return withLocalFile(await running, local, path);
  }

  /** The cached observation of a path if it is within its TTL. */
  freshObservation(path: string): Observation | undefined {
    const seen = this.cache.get(path);
    if (!seen) return undefined;
    const ttl = seen.value === undefined ? this.options.negativeTtlMs : this.options.metadataTtlMs;
    return this.now() - seen.at < ttl ? seen : undefined;
  }

  /**
   * Records what a look (or a listing) found for a path, moving the parent's stamp if that differs
   * from what was seen before.
   */
  observe(path: string, value: Resolved | undefined, at: number): void {
    const before = this.cache.peek(path);
    if (before && !sameResolved(before.value, value) && before.at <= at) this.touchDirectory(parentPath(path));
    if (!before || before.at <= at) this.cache.set(path, { value, at });
  }

  /**
   * Checks a directory still exists and whether its contents changed, with one delimited LIST of
   * its first page (cached within the TTL). The root and local directories always exist.
   */
  async probeDirectory(path: string): Promise<boolean> {
    const state = this.dirState(path);
    const always = path === '' || this.options.local.isLocalDirectory(path);
    if (state.probedAt !== undefined && this.now() - state.probedAt < this.options.metadataTtlMs) {
      return always || state.probe !== EMPTY_PROBE;
    }
    let running = this.probes.get(path);
    if (!running) {
      running = this.runProbe(path).finally(() => this.probes.delete(path));
      this.probes.set(path, running);
    }
    const exists = await running;
    return always || exists;
  }

  /** Feeds a directory's first LIST page (from a probe or a READDIR) into change detection. */
  notePage(dirPath: string, page: ListPage, at: number): void {
    const digest = pageDigest(page, this.options.probeKeys);
    const state = this.dirState(dirPath);
    if (digest !== undefined) {
      if (state.probe !== undefined && state.probe !== digest) state.stamp = this.nextStamp();
      state.probe = digest;
      state.probedAt = at;
    }
    if (dirPath === '') return;
    if (page.objects.length > 0 || page.prefixes.length > 0) {
      this.observe(dirPath, { kind: 'dir', origin: 'remote' }, at);
    } else {
      // No keys under dir/ means no directory, but says nothing about a file at the same name:
      // drop a cached "directory" answer so the next look asks S3 about both.
      const before = this.cache.peek(dirPath);
      if (before?.value?.kind === 'dir' && before.at <= at) {
        this.cache.delete(dirPath);
        this.touchDirectory(parentPath(dirPath));
      }
    }
  }

  /** Feeds the digest of a complete listing into change detection. */
  noteFullListing(dirPath: string, fingerprint: string): void {
    const state = this.dirState(dirPath);
    if (state.full !== undefined && state.full !== fingerprint) state.stamp = this.nextStamp();
    state.full = fingerprint;
  }

  private async runProbe(path: string): Promise<boolean> {
    const at = this.now();
    let page: ListPage;
    try {
      page = await this.options.store.list({
        prefix: dirKeyPrefix(this.prefix, path),
        delimiter: '/',
        maxKeys: this.options.probeKeys,
      });
    } catch (err) {
      throw fromStoreError(err, `LIST ${dirKeyPrefix(this.prefix, path)}`);
    }
    this.notePage(path, page, at);
    return page.objects.length > 0 || page.prefixes.length > 0;
  }

  private async lookRemote(path: string): Promise<Resolved | undefined> {
    const at = this.now();
    const key = fileKey(this.prefix, path);
    const [head, listing] = await Promise.all([
      this.options.store.head(key).catch((err: unknown) => {
        throw fromStoreError(err, `HEAD ${key}`);
      }),
      this.options.store.list({ prefix: `${key}/`, maxKeys: 1 }).catch((err: unknown) => {
        throw fromStoreError(err, `LIST ${key}/`);
      }),
    ]);
    let value: Resolved | undefined;
    // Any key under `key/` makes a directory, and a directory shadows the file `key`.
    if (listing.objects.length > 0 || listing.prefixes.length > 0) value = { kind: 'dir', origin: 'remote' };
    else if (head) value = { kind: 'file', origin: 'remote', object: head };
    this.observe(path, value, at);
    return value;
  }

  private dirState(path: string): DirState {
    let state = this.dirs.get(path);
    if (!state) {
      state = { stamp: this.options.mountTime };
      this.dirs.set(path, state);
    }
    return state;
  }

  /** A stamp later than every stamp handed out before, so a change is always visible. */
  private nextStamp(): FsTime {
    let t = timeFromMs(this.now());
    if (compareTimes(t, this.lastStamp) <= 0) {
      const nsec = this.lastStamp.nsec + 1000;
      t = nsec >= 1e9 ? { sec: this.lastStamp.sec + 1, nsec: nsec - 1e9 } : { sec: this.lastStamp.sec, nsec };
    }
    this.lastStamp = t;
    return t;
  }
}

const EMPTY_PROBE = pageDigest({ objects: [], prefixes: [] }, 1);

/** Merges what local state says about a file into a remote answer (a directory still wins). */
function withLocalFile(value: Resolved | undefined, local: LocalState, path: string): Resolved | undefined {
  if (value?.kind === 'dir') return value;
  const file = local.localFile(path);
  if (file) return { kind: 'file', origin: 'local', local: file };
  return value;
}

/**
 * A digest of the first `limit` entries of a directory's first delimited LIST page (objects and
 * common prefixes in key order) and whether more follow, so a probe (MaxKeys = limit) and a
 * READDIR's bigger first page give the same digest for the same contents. Undefined when the page
 * is too short to tell (it stops before `limit` entries but is not the last).
 */
function pageDigest(page: ListPage, limit: number): string | undefined {
  const items: { key: string; line: string }[] = [];
  for (const o of page.objects) items.push({ key: o.key, line: `o\0${o.key}\0${o.etag}\0${o.size}\n` });
  for (const p of page.prefixes) items.push({ key: p, line: `p\0${p}\n` });
  if (items.length < limit && page.nextToken !== undefined) return undefined;
  items.sort((a, b) => compareUtf8(a.key, b.key));
  const hash = createHash('sha1');
  for (const item of items.slice(0, limit)) hash.update(item.line);
  hash.update(items.length > limit || page.nextToken !== undefined ? 'more' : 'end');
  return hash.digest('hex');
}
