// One file being written through the mount: its staging directory holds a sparse data file, written
// at the offsets WRITEs name (so out-of-order and overlapping WRITEs assemble by themselves), and a
// manifest (manifest.ts) describing what is durable.
//
// No extra memory buffer sits in front of the data file: a positional write lands in the OS page
// cache, which already is a memory buffer that spills to disk, is shared with the reads that upload
// parts, and survives a crash of this process. COMMIT and FILE_SYNC fsync the data file and then
// rewrite the manifest; only that makes bytes count as stable.
//
// Consistency rules the uploader relies on:
// - `generation` (content) and the per-part versions are bumped AFTER a change reaches the data file.
//   A reader that saw version v before reading and still sees v afterwards read bytes no change was
//   racing with; a part recorded with v stays valid exactly while the part's version is v.
// - A truncate takes the file's lock exclusively; WRITEs share it.

import { createHash } from 'node:crypto';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fsError } from '../errors.js';
import { SharedExclusiveLock } from './concurrency.js';
import { fromFsError, writeFileDurably } from './disk.js';
import { ExtentMap, type Extent } from './extent-map.js';
import {
  DATA_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  decodeManifest,
  encodeManifest,
  type Baseline,
  type Manifest,
  type ManifestPublished,
} from './manifest.js';

/** Times in epoch milliseconds. */
export interface StagedTimes {
  mtime: number;
  atime: number;
  ctime: number;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
  sha256: string;
  /** The part's version when its bytes were read; the part is current while the version is unchanged. */
  version: number;
}

export interface UploadState {
  uploadId: string;
  /** By part number (1-based). */
  parts: Map<number, UploadedPart>;
}

export interface PublishedState extends ManifestPublished {
  /** The content generation that was published. */
  generation: number;
}

export interface StagedWriteInit {
  key: string;
  partSize: number;
  baseline: Baseline;
  exclusiveVerifier?: string;
  now: number;
}

/** The durable half of the state: what the manifest on disk says. */
interface DurableState {
  size: number;
  extents: Extent[];
  times: StagedTimes;
  generation: number;
  metaVersion: number;
}

export class StagedWrite {
  readonly key: string;
  readonly dir: string;
  readonly partSize: number;
  readonly createdAt: number;
  baseline: Baseline;
  exclusiveVerifier: string | undefined;

  private liveSize: number;
  private readonly written: ExtentMap;
  private times: StagedTimes;
  private contentGeneration = 0;
  /** Bumped by changes that are not content (times, publish state): they need a manifest write too. */
  private metaVersion = 0;
  private readonly partVersions = new Map<number, number>();
  private durable: DurableState;

  /** The multipart upload this file is using, if any (the publisher manages it). */
  upload: UploadState | undefined;
  /** The last object this server published from this file. */
  published: PublishedState | undefined;

  /** Part uploads running now, by part index (0-based); the publisher manages these. */
  readonly inflightParts = new Map<number, { version: number; size: number; done: Promise<void> }>();
  /** A createMultipartUpload in progress, so concurrent callers share it. */
  creatingUpload: Promise<UploadState> | undefined;

  private readonly lock = new SharedExclusiveLock();
  private manifestChain: Promise<void> = Promise.resolve();
  private commitChain: Promise<void> = Promise.resolve();
  private queuedCommit: Promise<void> | undefined;
  private active = 0;
  private retired = false;
  private idle: (() => void) | undefined;

  private constructor(
    readonly id: string,
    dir: string,
    private readonly fh: FileHandle,
    m: Manifest,
  ) {
    this.key = m.key;
    this.dir = dir;
    this.partSize = m.partSize;
    this.createdAt = m.createdAt;
    this.baseline = m.baseline;
    this.exclusiveVerifier = m.exclusiveVerifier;
    this.liveSize = m.size;
    this.written = new ExtentMap(m.extents);
    this.times = { mtime: m.mtime, atime: m.atime, ctime: m.ctime };
    this.durable = {
      size: m.size,
      extents: this.written.extents(),
      times: { ...this.times },
      generation: 0,
      metaVersion: 0,
    };
    if (m.published) {
      this.published = { ...m.published, generation: m.state === 'published' ? 0 : -1 };
    }
  }

  /** Creates the staging directory `dir` (whose parent exists) with an empty data file and a durable manifest. */
  static async create(id: string, dir: string, init: StagedWriteInit): Promise<StagedWrite> {
    const m: Manifest = {
      format: MANIFEST_FORMAT,
      key: init.key,
      createdAt: init.now,
      partSize: init.partSize,
      baseline: init.baseline,
      size: 0,
      extents: [],
      mtime: init.now,
      atime: init.now,
      ctime: init.now,
      state: 'staged',
    };
    if (init.exclusiveVerifier !== undefined) m.exclusiveVerifier = init.exclusiveVerifier;
    let fh: FileHandle;
    try {
      await mkdir(dir);
      fh = await open(path.join(dir, DATA_FILE), 'w+', 0o600);
    } catch (err) {
      throw fromFsError(err, `creating staging for ${init.key}`);
    }
    const file = new StagedWrite(id, dir, fh, m);
    try {
      await writeFileDurably(path.join(dir, MANIFEST_FILE), encodeManifest(m));
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    return file;
  }

  /**
   * Opens a staged file after a restart. The data file is cut to the durable size (bytes past it were
   * never committed), and recorded parts are kept only where the staged bytes still hash the same.
   */
  static async load(id: string, dir: string): Promise<StagedWrite> {
    const manifestPath = path.join(dir, MANIFEST_FILE);
    let m: Manifest;
    let fh: FileHandle;
    try {
      m = decodeManifest(await readFile(manifestPath), manifestPath);
      fh = await open(path.join(dir, DATA_FILE), 'r+');
    } catch (err) {
      throw fromFsError(err, `loading staging ${dir}`);
    }
    try {
      const st = await fh.stat();
      if (st.size !== m.size) await fh.truncate(m.size);
      const file = new StagedWrite(id, dir, fh, m);
      if (m.upload) {
        const parts = new Map<number, UploadedPart>();
        for (const p of m.upload.parts) {
          const index = p.partNumber - 1;
          if (index < 0 || p.size !== file.partLength(index, m.size)) continue;
          const bytes = await file.readRange(index * m.partSize, index * m.partSize + p.size);
          if ((await sha256(bytes)) === p.sha256) parts.set(p.partNumber, { ...p, version: 0 });
        }
        file.upload = { uploadId: m.upload.uploadId, parts };
      }
      return file;
    } catch (err) {
      await fh.close().catch(() => {});
      throw fromFsError(err, `loading staging ${dir}`);
    }
  }

  // ---- state ----------------------------------------------------------------------------------

  get size(): number {
    return this.liveSize;
  }

  get generation(): number {
    return this.contentGeneration;
  }

  get attributes(): { size: number } & StagedTimes {
    return { size: this.liveSize, ...this.times };
  }

  /** Bytes written through the mount (holes excluded). */
  get writtenBytes(): number {
    return this.written.bytes;
  }

  /** The durable size (what a restart would recover). */
  get durableSize(): number {
    return this.durable.size;
  }

  /** True while staged content differs from what this server last published. */
  get dirty(): boolean {
    return this.published === undefined || this.published.generation !== this.contentGeneration;
  }

  /** True when every byte of [start, end) has been written. */
  covers(start: number, end: number): boolean {
    return this.written.covers(start, end);
  }

  partVersion(index: number): number {
    return this.partVersions.get(index) ?? 0;
  }

  /** Length of part `index` (0-based) in a file of `size` bytes: partSize except the last; 0 past the end. */
  partLength(index: number, size = this.liveSize): number {
    return Math.max(0, Math.min(this.partSize, size - index * this.partSize));
  }

  /** Bytes of current, still-valid uploaded parts. */
  get uploadedBytes(): number {
    let n = 0;
    for (const p of this.upload?.parts.values() ?? []) {
      if (this.isPartCurrent(p)) n += p.size;
    }
    return n;
  }

  /** An uploaded part still matches the staged bytes. */
  isPartCurrent(p: UploadedPart): boolean {
    const index = p.partNumber - 1;
    return p.version === this.partVersion(index) && p.size === this.partLength(index) && p.size > 0;
  }

  // ---- changes --------------------------------------------------------------------------------

  /** Stores `data` at `offset`. The file grows to cover it. Not durable until commit(). */
  async write(offset: number, data: Uint8Array, now: number): Promise<void> {
    await this.lock.withShared(async () => {
      let done = 0;
      try {
        while (done < data.length) {
          const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
          if (bytesWritten <= 0) throw fsError('IO', `short write staging ${this.key}`);
          done += bytesWritten;
        }
      } catch (err) {
        throw fromFsError(err, `staging a write to ${this.key}`);
      }
      const end = offset + data.length;
      this.written.add(offset, end);
      if (end > this.liveSize) this.liveSize = end;
      this.bumpParts(offset, end);
      this.contentGeneration++;
      this.times.mtime = now;
      this.times.ctime = now;
    });
  }

  /** Truncates or extends (with zeros) to `size`, durably (SETATTR must be stable before its reply). */
  async setSize(size: number, now: number): Promise<void> {
    await this.lock.withExclusive(async () => {
      const old = this.liveSize;
      this.times.mtime = now;
      this.times.ctime = now;
      if (size === old) {
        this.metaVersion++;
        await this.commit();
        return;
      }
      try {
        if (size < old) {
          this.written.truncate(size);
          this.liveSize = size;
          this.bumpParts(size, old);
          this.contentGeneration++;
          // The manifest must say `size` before the data file is cut: a crash in between then leaves
          // a manifest recovery can trust (it cuts the file to the manifest's size itself).
          await this.commit();
          await this.fh.truncate(size);
        } else {
          await this.fh.truncate(size);
          this.liveSize = size;
          this.bumpParts(old, size);
          this.contentGeneration++;
          await this.commit();
        }
      } catch (err) {
        throw fromFsError(err, `setting the size of ${this.key}`);
      }
    });
  }

  /** Sets atime/mtime (already resolved to times) durably. */
  async setTimes(times: { atime?: number; mtime?: number }, now: number): Promise<void> {
    if (times.atime !== undefined) this.times.atime = times.atime;
    if (times.mtime !== undefined) this.times.mtime = times.mtime;
    this.times.ctime = now;
    this.metaVersion++;
    await this.commit();
  }

  /**
   * Makes everything written so far durable: fsync the data file, then rewrite the manifest. Covers
   * every write that completed before the call; callers arriving while one runs share the next.
   */
  commit(): Promise<void> {
    if (this.queuedCommit) return this.queuedCommit;
    const run = this.commitChain.then(() => {
      this.queuedCommit = undefined;
      return this.commitNow();
    });
    this.queuedCommit = run;
    this.commitChain = run.catch(() => {});
    return run;
  }

  private async commitNow(): Promise<void> {
    const snapshot: DurableState = {
      size: this.liveSize,
      extents: this.written.extents(),
      times: { ...this.times },
      generation: this.contentGeneration,
      metaVersion: this.metaVersion,
    };
    if (snapshot.generation === this.durable.generation && snapshot.metaVersion === this.durable.metaVersion) return;
    if (snapshot.generation !== this.durable.generation) {
      try {
        await this.fh.datasync();
      } catch (err) {
        throw fromFsError(err, `syncing staged data of ${this.key}`);
      }
    }
    await this.writeManifest(snapshot);
  }

  /** Rewrites the manifest with the current durable state and upload/publish records. */
  persist(): Promise<void> {
    return this.writeManifest(undefined);
  }

  /** Records that `published` now holds `generation`'s bytes and makes that durable. */
  async markPublished(published: PublishedState): Promise<void> {
    this.published = published;
    this.metaVersion++;
    // Commit, not persist: 'published' in the manifest claims the staged bytes equal the object, so
    // they must be on disk first.
    await this.commit();
  }

  private writeManifest(next: DurableState | undefined): Promise<void> {
    const run = this.manifestChain.then(async () => {
      const d = next ?? this.durable;
      await writeFileDurably(path.join(this.dir, MANIFEST_FILE), encodeManifest(this.manifestFor(d)));
      if (next) this.durable = next;
    });
    this.manifestChain = run.catch(() => {});
    return run;
  }

  private manifestFor(d: DurableState): Manifest {
    const m: Manifest = {
      format: MANIFEST_FORMAT,
      key: this.key,
      createdAt: this.createdAt,
      partSize: this.partSize,
      baseline: this.baseline,
      size: d.size,
      extents: d.extents.map(([s, e]) => [s, e]),
      mtime: d.times.mtime,
      atime: d.times.atime,
      ctime: d.times.ctime,
      state: this.published !== undefined && this.published.generation === d.generation ? 'published' : 'staged',
    };
    if (this.exclusiveVerifier !== undefined) m.exclusiveVerifier = this.exclusiveVerifier;
    if (this.published) {
      m.published = { etag: this.published.etag, size: this.published.size, at: this.published.at };
    }
    if (this.upload) {
      m.upload = {
        uploadId: this.upload.uploadId,
        parts: [...this.upload.parts.values()]
          .sort((a, b) => a.partNumber - b.partNumber)
          .map((p) => ({ partNumber: p.partNumber, etag: p.etag, size: p.size, sha256: p.sha256 })),
      };
    }
    return m;
  }

  private bumpParts(start: number, end: number): void {
    if (!(end > start)) return;
    const first = Math.floor(start / this.partSize);
    const last = Math.floor((end - 1) / this.partSize);
    for (let k = first; k <= last; k++) this.partVersions.set(k, this.partVersion(k) + 1);
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** Read-your-writes: up to `count` bytes at `offset`, holes as zeros, clipped to the size. */
  async read(offset: number, count: number): Promise<{ data: Buffer; eof: boolean }> {
    const size = this.liveSize;
    if (offset >= size || count <= 0) return { data: Buffer.alloc(0), eof: offset >= size };
    const end = Math.min(size, offset + count);
    const data = await this.readRange(offset, end);
    return { data, eof: end >= size };
  }

  /** The bytes [start, end) as staged now; holes (and anything past the data file) read as zeros. */
  async readRange(start: number, end: number): Promise<Buffer> {
    const out = Buffer.alloc(Math.max(0, end - start));
    let done = 0;
    try {
      while (done < out.length) {
        const { bytesRead } = await this.fh.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) break; // past the data file's end: the rest stays zero
        done += bytesRead;
      }
    } catch (err) {
      throw fromFsError(err, `reading staged data of ${this.key}`);
    }
    return out;
  }

  // ---- lifetime -------------------------------------------------------------------------------

  /** Starts an operation; false when the file has been retired (the caller must look it up again). */
  enter(): boolean {
    if (this.retired) return false;
    this.active++;
    return true;
  }

  exit(): void {
    this.active--;
    if (this.active === 0 && this.idle) this.idle();
  }

  get isRetired(): boolean {
    return this.retired;
  }

  /** Operations in progress. */
  get busy(): boolean {
    return this.active > 0;
  }

  /** Stops new operations, waits for running ones, closes the data file. */
  async retire(): Promise<void> {
    this.retired = true;
    if (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.manifestChain;
    await this.fh.close().catch(() => {});
  }
}

const HASH_SLICE = 1024 * 1024;

/**
 * sha256 (hex) of `bytes`, one 1 MiB slice per turn of the event loop: hashing an 8 MiB part in
 * one go would hold every other NFS request for ~10 ms.
 */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  for (let off = 0; off < bytes.length; off += HASH_SLICE) {
    if (off > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    hash.update(bytes.subarray(off, off + HASH_SLICE));
  }
  return hash.digest('hex');
}
