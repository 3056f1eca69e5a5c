// The write path as the FileSystem sees it: CREATE, WRITE, COMMIT, SETATTR, read-your-writes,
// attributes of staged files for GETATTR/READDIR, flush, status and shutdown. Keys are full S3 keys;
// the FileSystem maps file handles to keys and passes what it knows of the object at the key
// (`remote`) so this module never has to ask S3 itself.
//
// Lifecycle of a key here: not staged → staged (CREATE, or a truncate / full rewrite of an existing
// object with --allow-overwrite) → published after it is quiet for the publish delay → kept as a
// clean local copy for a while (a client that pauses longer than the delay and then writes on, or
// resends pages after a server restart, finds the file still staged) → dropped. While a key is
// staged, its staged bytes and attributes are the truth on this server; S3 sees the previous object
// or nothing until Complete/PutObject makes the new one visible at once.

import type { Logger } from '../../log/logger.js';
import { silentLogger } from '../../log/logger.js';
import type { ObjectInfo, ObjectStore } from '../../s3/object-store.js';
import { fsError, isFsError } from '../errors.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { Semaphore } from './concurrency.js';
import type { Baseline } from './manifest.js';
import { MultipartPublisher } from './multipart-publisher.js';
import { PublishScheduler, type PublishAttemptResult, type PublishPhase } from './publish-scheduler.js';
import type { StagedWrite } from './staged-write.js';
import { StagingArea } from './staging-area.js';
import type { OrphanReport } from './upload-journal.js';
import { WriteVerifier } from './write-verifier.js';
import { describeError } from './describe-error.js';

const MiB = 1024 * 1024;
/** S3's limit on parts in one multipart upload. */
export const MAX_PARTS = 10_000;
/** Dropped files whose published version is remembered (lastPublished). */
const DROPPED_MEMORY = 1024;

/** RFC 1813 stable_how. */
export type StableHow = 'unstable' | 'data_sync' | 'file_sync';

/** RFC 1813 createmode3, with EXCLUSIVE's 8-byte verifier. */
export type CreateHow = { mode: 'unchecked' } | { mode: 'guarded' } | { mode: 'exclusive'; verifier: Uint8Array };

/** What SETATTR (or CREATE's initial attributes) may change on a staged file; times are resolved already. */
export interface StagedAttributeChanges {
  size?: number;
  atime?: Date;
  mtime?: Date;
}

/**
 * Where a staged file stands:
 * - 'writing': changed since its last publish, waiting for the quiet delay;
 * - 'publishing': an upload is completing;
 * - 'failed': the last publish failed and will be retried;
 * - 'published': S3 holds exactly these bytes; kept as a local copy for a while.
 */
export type StagedPhase = 'writing' | 'publishing' | 'failed' | 'published';

export interface StagedFileAttributes {
  key: string;
  size: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
  phase: StagedPhase;
}

export interface WriteResult {
  count: number;
  committed: StableHow;
}

export interface PublishedEvent {
  key: string;
  etag: string;
  size: number;
  /** This server's clock at Complete/PutObject; S3's LastModified is close to it. */
  publishedAt: Date;
}

export interface FlushResult {
  key: string;
  outcome: 'published' | 'unchanged' | 'changed-during-publish' | 'failed' | 'not-staged';
  error?: string;
}

export interface StagedFileStatus {
  key: string;
  phase: StagedPhase;
  size: number;
  /** Bytes written through the mount (holes excluded). */
  writtenBytes: number;
  /** Bytes a restart would recover (the last COMMIT). */
  durableBytes: number;
  /** Bytes already uploaded as current multipart parts. */
  uploadedBytes: number;
  attempts: number;
  lastError?: string;
  lastErrorAt?: Date;
  nextAttemptAt?: Date;
}

export interface WriteStatus {
  verifier: string;
  files: StagedFileStatus[];
  totals: {
    staged: number;
    writing: number;
    publishing: number;
    failed: number;
    published: number;
    /** Size of every staged file. */
    bytes: number;
    /** Size of files not yet published (writing, publishing, failed). */
    unpublishedBytes: number;
  };
}

export interface ShutdownReport {
  published: string[];
  /** Still staged (failed or out of time): the next start publishes them. */
  remaining: string[];
}

export interface WritePathOptions {
  store: ObjectStore;
  /** Directory for staging and the upload journal, e.g. <state-dir>/write. */
  stagingDir: string;
  /** The export's key prefix ('' or ending in '/'); only used to sweep stale uploads (below). */
  exportPrefix?: string;
  /** --write-part-size. Default 8 MiB. The largest object is MAX_PARTS × this. */
  partSize?: number;
  /** --publish-delay. Default 5 s. */
  publishDelayMs?: number;
  /** --allow-overwrite: a truncate or full rewrite of an existing object stages its replacement. */
  allowOverwrite?: boolean;
  /** Part uploads in flight across all files. Default 8. */
  partConcurrency?: number;
  /** Files publishing at once. Default 4. */
  publishConcurrency?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long a published file stays as a local copy. Default 60 s; 0 drops it at once. */
  retainPublishedMs?: number;
  /**
   * Most bytes of published local copies kept; the oldest go first, but the newest stays whatever
   * its size. A full staging disk drops them all. Default 1 GiB.
   */
  retainPublishedBytes?: number;
  /** Margin when matching an upload whose id a crash kept us from recording. Default 5 min. */
  clockSkewMs?: number;
  /**
   * Also abort multipart uploads under exportPrefix that are older than this and not ours in use.
   * Off by default: they may belong to another client. (An S3 lifecycle rule is the usual tool.)
   */
  abortStaleUploadsOlderThanMs?: number;
  log?: Logger;
  clock?: Clock;
  verifier?: WriteVerifier;
  /** Called after each successful publish, before the staged copy can be dropped. */
  onPublished?: (event: PublishedEvent) => void;
}

export class WritePath {
  readonly verifier: WriteVerifier;
  readonly partSize: number;
  readonly maxObjectSize: number;
  readonly allowOverwrite: boolean;
  /** Start-up clean-up of abandoned multipart uploads; runs in the background. */
  readonly orphanCleanup: Promise<OrphanReport>;

  private readonly store: ObjectStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly publisher: MultipartPublisher;
  private readonly scheduler: PublishScheduler;
  private readonly creating = new Map<string, Promise<StagedWrite>>();
  private readonly retention = new Map<string, TimerHandle>();
  private readonly retainMs: number;
  private readonly retainBytes: number;
  private readonly onPublished: ((event: PublishedEvent) => void) | undefined;
  /** What was last published from each recently dropped file (bounded), for reads racing the drop. */
  private readonly dropped = new Map<string, { etag: string; size: number }>();
  private readonly pendingDrops = new Set<Promise<void>>();
  private closing = false;

  private constructor(
    private readonly area: StagingArea,
    options: WritePathOptions,
    recovered: StagedWrite[],
  ) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.log = (options.log ?? silentLogger).child({ component: 'write' });
    this.verifier = options.verifier ?? WriteVerifier.forBoot();
    this.partSize = options.partSize ?? 8 * MiB;
    this.maxObjectSize = MAX_PARTS * this.partSize;
    this.allowOverwrite = options.allowOverwrite ?? false;
    this.retainMs = options.retainPublishedMs ?? 60_000;
    this.retainBytes = options.retainPublishedBytes ?? 1024 * MiB;
    this.onPublished = options.onPublished;
    this.publisher = new MultipartPublisher({
      store: this.store,
      journal: area.journal,
      partSlots: new Semaphore(options.partConcurrency ?? 8),
      clock: this.clock,
      log: this.log,
    });
    this.scheduler = new PublishScheduler({
      delayMs: options.publishDelayMs ?? 5000,
      clock: this.clock,
      concurrency: options.publishConcurrency ?? 4,
      retryBaseMs: options.retryBaseMs ?? 1000,
      retryMaxMs: options.retryMaxMs ?? 5 * 60_000,
      publish: (key) => this.publishKey(key),
      log: this.log,
    });

    this.orphanCleanup = this.cleanUpUploads(options);

    // Everything staged before the restart is published after the usual quiet delay, which also
    // gives clients time to resend what they had not had committed (they see a new verifier).
    for (const file of recovered) {
      if (file.dirty) this.scheduler.touch(file.key);
      else this.retain(file);
    }
    if (recovered.length > 0) {
      this.log.info('recovered staged files', {
        files: recovered.length,
        unpublished: recovered.filter((f) => f.dirty).length,
      });
    }
  }

  /** Opens the staging directory, recovers what an earlier run left, and starts publishing it. */
  static async open(options: WritePathOptions): Promise<WritePath> {
    const partSize = options.partSize ?? 8 * MiB;
    if (!Number.isSafeInteger(partSize) || partSize < 1) throw new RangeError('partSize must be a positive integer');
    const area = await StagingArea.open(options.stagingDir);
    const recovered = await area.recover((options.log ?? silentLogger).child({ component: 'write' }));
    return new WritePath(area, options, recovered);
  }

  // ---- NFS operations -------------------------------------------------------------------------

  /**
   * CREATE. `remote` is the object at the key, if any. Returns the staged file's attributes, or
   * undefined when nothing was staged because an existing object stands (UNCHECKED on an object).
   * GUARDED and EXCLUSIVE fail with EXIST when the name exists; EXCLUSIVE with the same verifier as
   * the staged file's is a retransmission and succeeds.
   */
  async create(
    key: string,
    how: CreateHow,
    remote?: ObjectInfo,
    initial: StagedAttributeChanges = {},
  ): Promise<StagedFileAttributes | undefined> {
    this.assertOpen();
    await this.creating.get(key)?.catch(() => undefined);
    const verifier = how.mode === 'exclusive' ? Buffer.from(how.verifier).toString('hex') : undefined;
    const staged = this.area.get(key);
    if (staged) {
      if (how.mode === 'guarded') throw fsError('EXIST', `${key} exists (staged)`);
      if (how.mode === 'exclusive') {
        if (staged.exclusiveVerifier !== verifier) throw fsError('EXIST', `${key} exists (staged)`);
        return this.attributesOf(staged);
      }
      this.scheduler.touch(key);
      if (initial.size !== undefined || initial.atime !== undefined || initial.mtime !== undefined) {
        return this.setAttributes(key, initial, remote);
      }
      return this.attributesOf(staged);
    }
    if (remote) {
      if (how.mode !== 'unchecked') throw fsError('EXIST', `${key} exists`);
      // UNCHECKED on an existing object opens it; a size of 0 (O_TRUNC) replaces it.
      if (initial.size === 0) return this.setAttributes(key, initial, remote);
      return undefined;
    }
    const init: { baseline: Baseline; exclusiveVerifier?: string } = { baseline: { kind: 'new' } };
    if (verifier !== undefined) init.exclusiveVerifier = verifier;
    await this.stage(key, init);
    this.scheduler.touch(key);
    if (how.mode !== 'exclusive' && (initial.size || initial.atime || initial.mtime)) {
      return this.setAttributes(key, initial, remote);
    }
    return this.getAttributes(key);
  }

  /**
   * WRITE. The data is staged at `offset`; FILE_SYNC and DATA_SYNC return after it is durable
   * (answered as FILE_SYNC). A key that is not staged is written only if `remote` exists, the
   * write replaces all of it from offset 0 and --allow-overwrite is on.
   */
  async write(
    key: string,
    offset: number,
    data: Uint8Array,
    stable: StableHow,
    remote?: ObjectInfo,
  ): Promise<WriteResult> {
    this.assertOpen();
    const end = offset + data.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(end)) {
      throw fsError('INVAL', `bad write range ${offset}+${data.length}`);
    }
    if (end > this.maxObjectSize) {
      throw fsError('FBIG', `${key}: ${end} bytes is past the largest object (${this.maxObjectSize} bytes)`);
    }
    let file = this.enter(key);
    if (!file && data.length === 0) return { count: 0, committed: stable === 'unstable' ? 'unstable' : 'file_sync' };
    if (!file) {
      if (!remote) throw fsError('STALE', `${key} is not staged and has no object`);
      this.assertMayReplace(key);
      if (offset !== 0 || data.length < remote.size) {
        throw fsError('NOTSUPP', `${key}: writing into an existing object needs it truncated first`);
      }
      await this.stage(key, { baseline: { kind: 'replace', etag: remote.etag, size: remote.size } });
      file = this.enter(key);
      if (!file) throw fsError('JUKEBOX', `${key} was removed while staging began`);
    }
    try {
      if (end > MAX_PARTS * file.partSize) {
        throw fsError('FBIG', `${key}: ${end} bytes is past the largest object for its part size`);
      }
      await this.withSpace(() => file.write(offset, data, this.clock.now()));
      this.scheduler.touch(key);
      this.publisher.streamParts(file, offset, end);
      if (stable === 'unstable') return { count: data.length, committed: 'unstable' };
      await this.withSpace(() => file.commit());
      return { count: data.length, committed: 'file_sync' };
    } finally {
      file.exit();
    }
  }

  /** COMMIT: everything written to the file so far is durable on return. Not staged: nothing to do. */
  async commit(key: string): Promise<void> {
    const file = this.enter(key);
    if (!file) return;
    try {
      await this.withSpace(() => file.commit());
    } finally {
      file.exit();
    }
  }

  /**
   * SETATTR of size and/or times. On a staged file both apply (durably). On an object that is not
   * staged: no size change returns undefined (S3 keeps no times; the FileSystem decides), a size
   * equal to the object's is a no-op, size 0 stages an empty replacement (--allow-overwrite), and
   * anything else is NOTSUPP until edit-in-place exists.
   */
  async setAttributes(
    key: string,
    changes: StagedAttributeChanges,
    remote?: ObjectInfo,
  ): Promise<StagedFileAttributes | undefined> {
    this.assertOpen();
    if (changes.size !== undefined) {
      if (!Number.isSafeInteger(changes.size) || changes.size < 0) throw fsError('INVAL', `bad size ${changes.size}`);
      if (changes.size > this.maxObjectSize) {
        throw fsError('FBIG', `${key}: ${changes.size} bytes is past the largest object (${this.maxObjectSize})`);
      }
    }
    let file = this.enter(key);
    if (!file) {
      if (changes.size === undefined) return undefined;
      if (!remote) throw fsError('STALE', `${key} is not staged and has no object`);
      if (changes.size === remote.size) return undefined; // nothing changes (e.g. O_TRUNC of an empty object)
      if (changes.size !== 0) throw fsError('NOTSUPP', `${key}: resizing an existing object is not supported`);
      this.assertMayReplace(key);
      await this.stage(key, { baseline: { kind: 'replace', etag: remote.etag, size: remote.size } });
      file = this.enter(key);
      if (!file) throw fsError('JUKEBOX', `${key} was removed while staging began`);
    }
    try {
      const now = this.clock.now();
      if (changes.size !== undefined) await file.setSize(changes.size, now);
      if (changes.atime !== undefined || changes.mtime !== undefined) {
        const times: { atime?: number; mtime?: number } = {};
        if (changes.atime !== undefined) times.atime = changes.atime.getTime();
        if (changes.mtime !== undefined) times.mtime = changes.mtime.getTime();
        await file.setTimes(times, now);
      }
      this.scheduler.touch(key);
      return this.attributesOf(file);
    } finally {
      file.exit();
    }
  }

  /** Read-your-writes: the staged bytes, or undefined when the key is not staged (read S3). */
  async read(key: string, offset: number, count: number): Promise<{ data: Buffer; eof: boolean } | undefined> {
    const file = this.enter(key);
    if (!file) return undefined;
    try {
      return await file.read(offset, count);
    } finally {
      file.exit();
    }
  }

  /** Attributes of a staged file for GETATTR and READDIR merging; undefined when not staged. */
  getAttributes(key: string): StagedFileAttributes | undefined {
    const file = this.area.get(key);
    return file && !file.isRetired ? this.attributesOf(file) : undefined;
  }

  /**
   * The object last published from a file that is no longer staged (recently dropped), so a reader
   * that saw the staged file an instant before the drop can read the same bytes from S3.
   */
  lastPublished(key: string): { etag: string; size: number } | undefined {
    return this.dropped.get(key);
  }

  isStaged(key: string): boolean {
    return this.getAttributes(key) !== undefined;
  }

  /** Staged files whose keys start with `prefix` (all when omitted), for READDIR and the namespace. */
  stagedFiles(prefix = ''): StagedFileAttributes[] {
    const out: StagedFileAttributes[] = [];
    for (const file of this.area.files()) {
      if (!file.isRetired && file.key.startsWith(prefix)) out.push(this.attributesOf(file));
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** True when some staged key starts with `dirPrefix` (ending in '/'): the directory exists locally. */
  hasStagedUnder(dirPrefix: string): boolean {
    return this.area.index.hasUnder(dirPrefix);
  }

  /** Staged files directly under `dirPrefix`, and the sub-prefixes (ending in '/') holding staged keys. */
  stagedChildren(dirPrefix: string): { files: StagedFileAttributes[]; dirs: string[] } {
    const { files, dirs } = this.area.index.children(dirPrefix);
    const out: StagedFileAttributes[] = [];
    for (const key of files) {
      const attrs = this.getAttributes(key);
      if (attrs) out.push(attrs);
    }
    return { files: out, dirs };
  }

  /**
   * REMOVE of a staged file: drops the staged data and any multipart upload. `published` tells the
   * FileSystem that an object this server published from it may still be in S3 (delete it too).
   */
  async remove(key: string): Promise<{ wasStaged: boolean; published: boolean }> {
    this.dropped.delete(key);
    const file = this.area.get(key);
    if (!file) return { wasStaged: false, published: false };
    this.scheduler.forget(key);
    this.cancelRetention(key);
    // A publish already running cannot be recalled; let it finish so the caller knows about it.
    await this.scheduler.settle(key);
    const published = file.published !== undefined || file.baseline.kind === 'replace';
    await this.area.discard(file);
    await this.publisher.abandonUpload(file);
    return { wasStaged: true, published };
  }

  // ---- publishing -----------------------------------------------------------------------------

  /** Publishes now: one key, or every staged file that is not yet published. */
  async flush(key?: string): Promise<FlushResult[]> {
    const keys = key !== undefined ? [key] : this.area.files().filter((f) => f.dirty).map((f) => f.key);
    return Promise.all(keys.map((k) => this.flushOne(k)));
  }

  private async flushOne(key: string): Promise<FlushResult> {
    const file = this.area.get(key);
    if (!file || file.isRetired) return { key, outcome: 'not-staged' };
    if (!file.dirty) return { key, outcome: 'unchanged' };
    try {
      const result = await this.scheduler.flush(key);
      if (result === 'gone') return { key, outcome: 'not-staged' };
      return { key, outcome: result === 'clean' ? 'published' : 'changed-during-publish' };
    } catch (err) {
      return { key, outcome: 'failed', error: describeError(err) };
    }
  }

  /** The scheduler's publish callback. */
  private async publishKey(key: string): Promise<PublishAttemptResult> {
    const file = this.area.get(key);
    if (!file || !file.enter()) return 'gone';
    let result: PublishAttemptResult | 'published';
    try {
      result = await this.publishEntered(file);
    } finally {
      file.exit();
    }
    if (result !== 'published') return result;
    this.retain(file); // after exit(): retaining may drop it at once, which waits for idle
    return 'clean';
  }

  private async publishEntered(file: StagedWrite): Promise<PublishAttemptResult | 'published'> {
    const key = file.key;
    if (!file.dirty) return 'clean';
    const outcome = await this.publisher.publish(file);
    if (outcome.kind === 'retired') return 'gone';
    if (outcome.kind === 'superseded') return 'dirty';
    const at = this.clock.now();
    this.log.info('published', { key, size: outcome.size, parts: outcome.parts, etag: outcome.etag });
    try {
      await file.markPublished({ etag: outcome.etag, size: outcome.size, at, generation: outcome.generation });
    } catch (err) {
      // Only costs a needless re-upload after a crash.
      this.log.warn('could not record publish in the manifest', { key, error: describeError(err) });
    }
    try {
      this.onPublished?.({ key, etag: outcome.etag, size: outcome.size, publishedAt: new Date(at) });
    } catch (err) {
      this.log.error('publish listener failed', { key, error: describeError(err) });
    }
    return file.dirty ? 'dirty' : 'published';
  }

  /** Keeps a just-published file as a local copy for a while, within the byte budget. */
  /**
   * Keeps a just-published file as a local copy for a while. Older copies are dropped to stay within
   * the byte budget, but never the newest one, however large: it is the file a slow writer that
   * paused past the publish delay is about to continue.
   */
  private retain(file: StagedWrite): void {
    this.cancelRetention(file.key);
    if (this.closing) return;
    if (this.retainMs <= 0) {
      void this.dropIfClean(file);
      return;
    }
    this.retention.set(
      file.key,
      this.clock.setTimer(this.retainMs, () => void this.dropIfClean(file)),
    );
    this.dropCopies(this.retainBytes, file);
  }

  /** Drops clean local copies, those published longest ago first, until they total at most `budget`. */
  private dropCopies(budget: number, keep?: StagedWrite): number {
    const copies = this.area
      .files()
      .filter((f) => !f.dirty && !f.isRetired && !f.busy)
      .sort((a, b) => (a.published?.at ?? 0) - (b.published?.at ?? 0));
    let bytes = copies.reduce((n, f) => n + f.size, 0);
    let dropped = 0;
    for (const f of copies) {
      if (bytes <= budget) break;
      if (f === keep) continue;
      bytes -= f.size;
      dropped++;
      void this.dropIfClean(f);
    }
    return dropped;
  }

  private dropIfClean(file: StagedWrite): Promise<void> {
    const drop = this.dropNow(file);
    this.pendingDrops.add(drop);
    const done = () => void this.pendingDrops.delete(drop);
    drop.then(done, done);
    return drop;
  }

  private async dropNow(file: StagedWrite): Promise<void> {
    if (this.area.get(file.key) !== file || file.isRetired || file.dirty) return;
    if (file.busy) {
      // A read or upload is using it: look again shortly.
      this.retention.set(
        file.key,
        this.clock.setTimer(1000, () => void this.dropIfClean(file)),
      );
      return;
    }
    this.cancelRetention(file.key);
    this.scheduler.forget(file.key);
    if (file.published) {
      this.dropped.delete(file.key);
      this.dropped.set(file.key, { etag: file.published.etag, size: file.published.size });
      if (this.dropped.size > DROPPED_MEMORY) this.dropped.delete(this.dropped.keys().next().value!);
    }
    try {
      await this.area.discard(file);
    } catch (err) {
      this.log.warn('could not drop published staging', { key: file.key, error: describeError(err) });
    }
  }

  private cancelRetention(key: string): void {
    this.retention.get(key)?.cancel();
    this.retention.delete(key);
  }

  // ---- status and lifetime --------------------------------------------------------------------

  status(): WriteStatus {
    const files: StagedFileStatus[] = [];
    const totals = { staged: 0, writing: 0, publishing: 0, failed: 0, published: 0, bytes: 0, unpublishedBytes: 0 };
    for (const file of this.area.files()) {
      if (file.isRetired) continue;
      const phase = this.phaseOf(file);
      const sched = this.scheduler.state(file.key);
      const s: StagedFileStatus = {
        key: file.key,
        phase,
        size: file.size,
        writtenBytes: file.writtenBytes,
        durableBytes: file.durableSize,
        uploadedBytes: file.uploadedBytes,
        attempts: sched?.attempts ?? 0,
      };
      if (sched?.lastError !== undefined) s.lastError = sched.lastError;
      if (sched?.lastErrorAt !== undefined) s.lastErrorAt = new Date(sched.lastErrorAt);
      if (sched?.dueAt !== undefined) s.nextAttemptAt = new Date(sched.dueAt);
      files.push(s);
      totals.staged++;
      totals[phase]++;
      totals.bytes += file.size;
      if (phase !== 'published') totals.unpublishedBytes += file.size;
    }
    files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { verifier: this.verifier.toString(), files, totals };
  }

  /**
   * SIGTERM/SIGINT: refuse new changes (JUKEBOX, so clients retry against the next start), make
   * every staged byte durable, then publish everything within `timeoutMs`. What does not make it
   * stays staged for the next start.
   */
  async shutdown(timeoutMs = 30_000): Promise<ShutdownReport> {
    this.closing = true;
    this.scheduler.stop();
    for (const key of [...this.retention.keys()]) this.cancelRetention(key);
    const files = this.area.files();
    await Promise.all(
      files.map((f) =>
        f.commit().catch((err: unknown) => {
          this.log.error('could not make staged data durable at shutdown', {
            key: f.key,
            error: describeError(err),
          });
        }),
      ),
    );
    let timer: TimerHandle | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = this.clock.setTimer(timeoutMs, () => resolve('timeout'));
    });
    const results = await Promise.race([this.flush(), deadline]);
    timer?.cancel();
    if (results === 'timeout') this.log.warn('shutdown publish timed out; unpublished files stay staged');
    const published = results === 'timeout' ? [] : results.filter((r) => r.outcome === 'published').map((r) => r.key);
    const remaining = this.area
      .files()
      .filter((f) => f.dirty)
      .map((f) => f.key);
    for (const f of this.area.files()) if (!f.busy) await f.retire();
    return { published, remaining };
  }

  // ---- helpers --------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closing) throw fsError('JUKEBOX', 'the server is shutting down');
  }

  private assertMayReplace(key: string): void {
    if (!this.allowOverwrite) throw fsError('PERM', `${key} exists; replacing objects needs --allow-overwrite`);
  }

  /**
   * Runs a staging step; if the disk is full, drops every clean local copy (they are in S3 already)
   * and tries once more before answering NOSPC.
   */
  private async withSpace<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (!isFsError(err, 'NOSPC') || this.dropCopies(0) === 0) throw err;
      this.log.warn('staging disk full: dropped published local copies to make room');
      await this.settleDrops();
      return step();
    }
  }

  /** Waits for drops started by dropCopies to free their space. */
  private async settleDrops(): Promise<void> {
    await Promise.all([...this.pendingDrops]);
  }

  /** The staged file for `key` with an operation entered, or undefined. */
  private enter(key: string): StagedWrite | undefined {
    const file = this.area.get(key);
    return file && file.enter() ? file : undefined;
  }

  /** Creates the staging for `key` once, however many callers race to do it. */
  private async stage(key: string, init: { baseline: Baseline; exclusiveVerifier?: string }): Promise<StagedWrite> {
    const pending = this.creating.get(key);
    if (pending) return pending;
    const existing = this.area.get(key);
    if (existing) return existing;
    const now = this.clock.now();
    const run = this.withSpace(() => this.area.create({ key, partSize: this.partSize, now, ...init }));
    this.creating.set(key, run);
    this.dropped.delete(key);
    try {
      const file = await run;
      if (init.baseline.kind === 'replace') {
        this.log.info('staging a replacement', { key, oldSize: init.baseline.size });
      }
      return file;
    } catch (err) {
      if (isFsError(err)) throw err;
      throw fsError('IO', `staging ${key}: ${describeError(err)}`, err);
    } finally {
      this.creating.delete(key);
    }
  }

  private phaseOf(file: StagedWrite): StagedPhase {
    if (!file.dirty) return 'published';
    const phase: PublishPhase | undefined = this.scheduler.state(file.key)?.phase;
    if (phase === 'publishing') return 'publishing';
    if (phase === 'failed') return 'failed';
    return 'writing';
  }

  private attributesOf(file: StagedWrite): StagedFileAttributes {
    const a = file.attributes;
    return {
      key: file.key,
      size: a.size,
      mtime: new Date(a.mtime),
      atime: new Date(a.atime),
      ctime: new Date(a.ctime),
      phase: this.phaseOf(file),
    };
  }

  /** True when a staged file is using the upload (resuming it, or streaming parts to it). */
  private uploadInUse(uploadId: string): boolean {
    return this.area.files().some((f) => f.upload?.uploadId === uploadId);
  }

  private async cleanUpUploads(options: WritePathOptions): Promise<OrphanReport> {
    const inUse = (uploadId: string) => this.uploadInUse(uploadId);
    const report = await this.area.journal
      .abortOrphans(this.store, inUse, { clockSkewMs: options.clockSkewMs ?? 5 * 60_000, log: this.log })
      .catch((err: unknown): OrphanReport => {
        this.log.warn('orphaned upload clean-up failed', { error: describeError(err) });
        return { aborted: [], failed: [] };
      });
    const olderThan = options.abortStaleUploadsOlderThanMs;
    if (olderThan === undefined) return report;
    try {
      const cutoff = this.clock.now() - olderThan;
      for (const u of await this.store.listMultipartUploads(options.exportPrefix ?? '')) {
        if (u.initiated.getTime() >= cutoff || inUse(u.uploadId)) continue;
        if (this.area.journal.entries().some((e) => e.uploadId === u.uploadId)) continue;
        try {
          await this.store.abortMultipartUpload(u.key, u.uploadId);
          report.aborted.push({ key: u.key, uploadId: u.uploadId });
          this.log.info('aborted stale multipart upload', { key: u.key, uploadId: u.uploadId });
        } catch (err) {
          report.failed.push({ key: u.key, uploadId: u.uploadId, error: describeError(err) });
        }
      }
    } catch (err) {
      this.log.warn('stale upload sweep failed', { error: describeError(err) });
    }
    return report;
  }
}
