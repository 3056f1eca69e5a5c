// Every multipart upload this server starts is written down first, so one it abandons (a crash, a
// restart of an upload, a file removed mid-upload) can be aborted later — and uploads started by
// anyone else are never touched. One small file per upload under <root>/uploads/:
//   1. before CreateMultipartUpload: {key, intentAt}            (durable)
//   2. after it returns:             {key, intentAt, uploadId}  (durable)
//   3. after Complete or Abort:      the file is deleted
// A crash between 1 and 2 leaves an upload whose id we never learned: at start-up we list the
// uploads for that exact key and abort those initiated after the intent (less a clock-skew margin).

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log/logger.js';
import { isObjectStoreError, type ObjectStore } from '../../s3/object-store.js';
import { fromFsError, writeFileDurably } from './disk.js';
import { describeError } from './describe-error.js';

export interface UploadJournalEntry {
  readonly id: string;
  readonly key: string;
  /** Epoch milliseconds when we decided to create the upload. */
  readonly intentAt: number;
  uploadId?: string;
  /** Written by an earlier run of the server (loaded at open). */
  readonly previous: boolean;
}

export interface OrphanReport {
  aborted: Array<{ key: string; uploadId: string }>;
  /** Aborts that failed; their entries stay for the next start. */
  failed: Array<{ key: string; uploadId?: string; error: string }>;
}

export class UploadJournal {
  private readonly byId = new Map<string, UploadJournalEntry>();

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<UploadJournal> {
    const journal = new UploadJournal(dir);
    try {
      await mkdir(dir, { recursive: true });
      for (const name of await readdir(dir)) {
        if (!name.endsWith('.json')) {
          // A temporary left by a crash mid-write.
          await rm(path.join(dir, name), { force: true });
          continue;
        }
        const entry = parseEntry(name.slice(0, -'.json'.length), await readFile(path.join(dir, name), 'utf8'));
        if (entry) journal.byId.set(entry.id, entry);
        else await rm(path.join(dir, name), { force: true });
      }
    } catch (err) {
      throw fromFsError(err, `opening the upload journal ${dir}`);
    }
    return journal;
  }

  entries(): UploadJournalEntry[] {
    return [...this.byId.values()];
  }

  /** Step 1: durably note that an upload for `key` is about to be created. */
  async begin(key: string, now: number): Promise<UploadJournalEntry> {
    const entry: UploadJournalEntry = { id: randomBytes(8).toString('hex'), key, intentAt: now, previous: false };
    await this.write(entry);
    this.byId.set(entry.id, entry);
    return entry;
  }

  /** Step 2: durably note the upload id the store returned. */
  async record(entry: UploadJournalEntry, uploadId: string): Promise<void> {
    entry.uploadId = uploadId;
    await this.write(entry);
  }

  /** Step 3: the upload is completed or aborted (or its creation failed); forget it. */
  async finish(entryOrUploadId: UploadJournalEntry | string): Promise<void> {
    const entry =
      typeof entryOrUploadId === 'string'
        ? [...this.byId.values()].find((e) => e.uploadId === entryOrUploadId)
        : entryOrUploadId;
    if (!entry) return;
    this.byId.delete(entry.id);
    // Not synced: if the delete is lost, the next start aborts an upload that no longer exists,
    // which S3 answers with NoSuchUpload and we accept.
    await rm(this.pathOf(entry), { force: true }).catch(() => {});
  }

  /** Aborts `uploadId` (already gone counts as done) and forgets it. Throws when the abort fails. */
  async abort(store: ObjectStore, key: string, uploadId: string): Promise<void> {
    try {
      await store.abortMultipartUpload(key, uploadId);
    } catch (err) {
      if (!isObjectStoreError(err, 'NoSuchUpload') && !isObjectStoreError(err, 'NotFound')) throw err;
    }
    await this.finish(uploadId);
  }

  /**
   * Start-up: aborts the uploads an earlier run journaled that no staged file uses any more.
   * `inUse` is asked right before each abort (this run may be resuming or creating uploads
   * meanwhile). `clockSkewMs` widens the window for uploads whose id was never recorded.
   */
  async abortOrphans(
    store: ObjectStore,
    inUse: (uploadId: string) => boolean,
    options: { clockSkewMs: number; log: Logger },
  ): Promise<OrphanReport> {
    const report: OrphanReport = { aborted: [], failed: [] };
    for (const entry of this.entries().filter((e) => e.previous)) {
      if (entry.uploadId !== undefined) {
        if (inUse(entry.uploadId)) continue;
        await this.abortOne(store, entry.key, entry.uploadId, report, options.log);
        continue;
      }
      try {
        const since = entry.intentAt - options.clockSkewMs;
        const uploads = await store.listMultipartUploads(entry.key);
        let ok = true;
        for (const u of uploads) {
          if (u.key !== entry.key || u.initiated.getTime() < since) continue;
          // Ours now: in use, journaled with its id, or possibly the one this run is creating.
          if (inUse(u.uploadId) || this.isRecorded(u.uploadId) || this.isCreating(u.key)) continue;
          ok = (await this.abortOne(store, u.key, u.uploadId, report, options.log)) && ok;
        }
        if (ok) await this.finish(entry);
      } catch (err) {
        report.failed.push({ key: entry.key, error: describeError(err) });
        const fields = { key: entry.key, error: describeError(err) };
        options.log.warn('could not list multipart uploads to find an orphan', fields);
      }
    }
    return report;
  }

  private isRecorded(uploadId: string): boolean {
    for (const e of this.byId.values()) if (e.uploadId === uploadId) return true;
    return false;
  }

  /** This run has begun creating an upload for `key` and does not know its id yet. */
  private isCreating(key: string): boolean {
    for (const e of this.byId.values()) if (!e.previous && e.key === key && e.uploadId === undefined) return true;
    return false;
  }

  private async abortOne(
    store: ObjectStore,
    key: string,
    uploadId: string,
    report: OrphanReport,
    log: Logger,
  ): Promise<boolean> {
    try {
      await this.abort(store, key, uploadId);
      report.aborted.push({ key, uploadId });
      log.info('aborted orphaned multipart upload', { key, uploadId });
      return true;
    } catch (err) {
      report.failed.push({ key, uploadId, error: describeError(err) });
      log.warn('could not abort orphaned multipart upload', { key, uploadId, error: describeError(err) });
      return false;
    }
  }

  private pathOf(entry: UploadJournalEntry): string {
    return path.join(this.dir, `${entry.id}.json`);
  }

  private async write(entry: UploadJournalEntry): Promise<void> {
    const body: Record<string, string | number> = { key: entry.key, intentAt: entry.intentAt };
    if (entry.uploadId !== undefined) body['uploadId'] = entry.uploadId;
    await writeFileDurably(this.pathOf(entry), Buffer.from(JSON.stringify(body) + '\n'));
  }
}

function parseEntry(id: string, text: string): UploadJournalEntry | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  if (typeof o['key'] !== 'string' || typeof o['intentAt'] !== 'number') return undefined;
  const entry: UploadJournalEntry = { id, key: o['key'], intentAt: o['intentAt'], previous: true };
  if (typeof o['uploadId'] === 'string') entry.uploadId = o['uploadId'];
  return entry;
}
