// Turns a staged file into an S3 object, never exposing a partial one.
//
// - Streaming: once a file is larger than one part, every full part whose bytes are all written is
//   uploaded in the background (UploadPart) while the client keeps writing. A later write into an
//   uploaded part's range bumps that part's version, which retires the upload; publish re-uploads it.
// - Publishing: a file of at most one part is one PutObject. A larger one uploads whatever parts are
//   missing or stale (the last may be short) and completes the multipart upload. Parts are read at
//   one content generation; if the file changes before Complete is sent, nothing is published and
//   the caller tries again later ("superseded"), so an object is always one consistent version.
// - Every multipart upload is journaled before it is created (upload-journal.ts), so one we abandon
//   is aborted now or at the next start, and nobody else's upload is touched.
//
// A new file's publish replaces whatever another client may have put at the key meanwhile, as
// Mountpoint does (no coordination between writers; last writer wins). Replacing an object that
// existed when the file was created or truncated is gated by --allow-overwrite one level up.

import type { Logger } from '../../log/logger.js';
import { isObjectStoreError, type CompletedPart, type ObjectStore } from '../../s3/object-store.js';
import type { Clock } from './clock.js';
import type { Semaphore } from './concurrency.js';
import { sha256, type StagedWrite, type UploadState } from './staged-write.js';
import type { UploadJournal } from './upload-journal.js';
import { describeError } from './describe-error.js';

export type PublishOutcome =
  /** The object now holds the file's bytes as of `generation`. */
  | { kind: 'published'; etag: string; size: number; generation: number; parts: number }
  /** The file changed while it was being read or uploaded; nothing was published. */
  | { kind: 'superseded' }
  /** The file is no longer staged. */
  | { kind: 'retired' };

/** Thrown inside a publish when the file changed under it. */
class Superseded extends Error {}

export interface MultipartPublisherOptions {
  store: ObjectStore;
  journal: UploadJournal;
  /** Bounds part uploads (and single PUTs) in flight across all files, and so their buffers. */
  partSlots: Semaphore;
  clock: Clock;
  log: Logger;
}

export class MultipartPublisher {
  private readonly store: ObjectStore;
  private readonly journal: UploadJournal;
  private readonly slots: Semaphore;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(options: MultipartPublisherOptions) {
    this.store = options.store;
    this.journal = options.journal;
    this.slots = options.partSlots;
    this.clock = options.clock;
    this.log = options.log;
  }

  /**
   * After a write to [start, end): uploads, in the background, every full part it completed. Part 0
   * is checked too, because it becomes worth streaming only once the file grows past one part.
   */
  streamParts(file: StagedWrite, start: number, end: number): void {
    if (file.size <= file.partSize || file.isRetired) return;
    const candidates = new Set<number>([0]);
    if (end > start) {
      const first = Math.floor(start / file.partSize);
      const last = Math.floor((end - 1) / file.partSize);
      for (let k = first; k <= last; k++) candidates.add(k);
    }
    for (const k of candidates) {
      if (!this.worthStreaming(file, k)) continue;
      this.uploadPart(file, k).catch((err: unknown) => {
        // Publish will upload it again; a failure here only costs time.
        this.log.debug('background part upload failed', { key: file.key, part: k + 1, error: describeError(err) });
      });
    }
  }

  private worthStreaming(file: StagedWrite, index: number): boolean {
    const start = index * file.partSize;
    const end = start + file.partSize;
    if (end > file.size || !file.covers(start, end)) return false;
    const version = file.partVersion(index);
    const uploaded = file.upload?.parts.get(index + 1);
    if (uploaded && file.isPartCurrent(uploaded)) return false;
    const inflight = file.inflightParts.get(index);
    return !(inflight && inflight.version === version && inflight.size === file.partLength(index));
  }

  /** Publishes the file's current bytes. Store errors propagate (the scheduler retries). */
  async publish(file: StagedWrite): Promise<PublishOutcome> {
    if (!file.enter()) return { kind: 'retired' };
    try {
      try {
        return await this.publishOnce(file);
      } catch (err) {
        if (!isObjectStoreError(err, 'NoSuchUpload')) throw err;
        // The upload vanished (aborted by a lifecycle rule, or completed just before a crash):
        // start over with a fresh one.
        this.log.warn('multipart upload is gone; restarting it', { key: file.key, error: describeError(err) });
        await this.forgetUpload(file);
        return await this.publishOnce(file);
      }
    } catch (err) {
      if (err instanceof Superseded) return { kind: 'superseded' };
      throw err;
    } finally {
      file.exit();
    }
  }

  private async publishOnce(file: StagedWrite): Promise<PublishOutcome> {
    const generation = file.generation;
    const size = file.size;
    if (size <= file.partSize) return this.publishSingle(file, generation, size);

    const upload = await this.ensureUpload(file);
    const count = Math.ceil(size / file.partSize);
    const parts = await Promise.all(
      Array.from({ length: count }, (_, k) => this.currentPart(file, k, generation, upload)),
    );
    // Everything read is from `generation`: complete in this same turn, before any write can land.
    if (file.generation !== generation || file.upload !== upload) return { kind: 'superseded' };
    const result = await this.store.completeMultipartUpload(file.key, upload.uploadId, parts);
    if (file.upload === upload) file.upload = undefined;
    await this.journal.finish(upload.uploadId);
    return { kind: 'published', etag: result.etag, size, generation, parts: count };
  }

  private async publishSingle(file: StagedWrite, generation: number, size: number): Promise<PublishOutcome> {
    const result = await this.slots.use(async () => {
      const body = await file.readRange(0, size);
      if (file.generation !== generation) throw new Superseded();
      return this.store.put({ key: file.key, body });
    });
    // The file shrank below one part after it had started a multipart upload: that upload is moot.
    await this.abandonUpload(file);
    return { kind: 'published', etag: result.etag, size, generation, parts: 1 };
  }

  /** The part `index` as uploaded at `generation`, uploading it if needed. */
  private async currentPart(
    file: StagedWrite,
    index: number,
    generation: number,
    upload: UploadState,
  ): Promise<CompletedPart> {
    for (;;) {
      if (file.generation !== generation || file.upload !== upload || file.isRetired) throw new Superseded();
      const have = upload.parts.get(index + 1);
      if (have && file.isPartCurrent(have)) return { partNumber: have.partNumber, etag: have.etag };
      await this.uploadPart(file, index);
    }
  }

  /**
   * Uploads part `index` as it is now, once: callers asking for the same version share the upload.
   * Records the part only if nothing wrote into it meanwhile and the upload is still the file's.
   */
  private uploadPart(file: StagedWrite, index: number): Promise<void> {
    const version = file.partVersion(index);
    const size = file.partLength(index);
    const inflight = file.inflightParts.get(index);
    if (inflight && inflight.version === version && inflight.size === size) return inflight.done;

    const done = this.slots.use(async () => {
      if (!file.enter()) return;
      try {
        if (file.partVersion(index) !== version || file.partLength(index) !== size || size === 0) return;
        const upload = await this.ensureUpload(file);
        const start = index * file.partSize;
        const body = await file.readRange(start, start + size);
        if (file.partVersion(index) !== version) return; // a write raced the read
        // One hash serves the journal and the request signature.
        const hash = await sha256(body);
        const part = await this.store.uploadPart(file.key, upload.uploadId, index + 1, body, hash);
        if (file.upload !== upload) return;
        upload.parts.set(index + 1, { partNumber: index + 1, etag: part.etag, size, sha256: hash, version });
      } finally {
        file.exit();
      }
    });
    const entry = { version, size, done };
    file.inflightParts.set(index, entry);
    const clear = () => {
      if (file.inflightParts.get(index) === entry) file.inflightParts.delete(index);
    };
    done.then(clear, clear);
    return done;
  }

  /** The file's multipart upload, created (and journaled first) when it has none. */
  private ensureUpload(file: StagedWrite): Promise<UploadState> {
    if (file.upload) return Promise.resolve(file.upload);
    if (file.creatingUpload) return file.creatingUpload;
    const creating = (async () => {
      const entry = await this.journal.begin(file.key, this.clock.now());
      // If this throws, the entry stays: when only the reply was lost, an upload exists whose id we
      // never learned, and the next start finds it by key and time and aborts it.
      const uploadId = await this.store.createMultipartUpload(file.key);
      try {
        await this.journal.record(entry, uploadId);
      } catch (err) {
        // Without the record nobody would ever abort it: give it up now.
        await this.store.abortMultipartUpload(file.key, uploadId).catch(() => {});
        await this.journal.finish(entry);
        throw err;
      }
      const upload: UploadState = { uploadId, parts: new Map() };
      file.upload = upload;
      // Name the upload in the manifest so a restart resumes it. If that fails the journal still
      // knows it: a restart aborts it and uploads afresh.
      await file.persist().catch((err: unknown) => {
        const fields = { key: file.key, error: describeError(err) };
        this.log.warn('could not record multipart upload in the manifest', fields);
      });
      return upload;
    })();
    file.creatingUpload = creating;
    const clear = () => {
      if (file.creatingUpload === creating) file.creatingUpload = undefined;
    };
    creating.then(clear, clear);
    return creating;
  }

  /** Drops the file's upload record after the store said it no longer exists. */
  private async forgetUpload(file: StagedWrite): Promise<void> {
    const upload = file.upload;
    if (!upload) return;
    file.upload = undefined;
    await this.journal.finish(upload.uploadId);
  }

  /**
   * Gives up the file's multipart upload (the file was removed, or is published whole by one PUT):
   * aborts it, including one still being created. A failed abort stays journaled and is retried at
   * the next start.
   */
  async abandonUpload(file: StagedWrite): Promise<void> {
    await file.creatingUpload?.catch(() => undefined);
    const upload = file.upload;
    if (!upload) return;
    file.upload = undefined;
    await this.abortQuietly(file.key, upload.uploadId);
  }

  private async abortQuietly(key: string, uploadId: string): Promise<void> {
    try {
      await this.journal.abort(this.store, key, uploadId);
    } catch (err) {
      this.log.warn('could not abort multipart upload; will retry at next start', {
        key,
        uploadId,
        error: describeError(err),
      });
    }
  }
}
