// The staging directory, which is also the write journal:
//
//   <root>/staging/<id>/data            sparse data file, written at WRITE offsets
//   <root>/staging/<id>/manifest.json   what is durable (manifest.ts)
//   <root>/uploads/<n>.json             multipart uploads we started (upload-journal.ts)
//   <root>/trash/                       directories on their way out
//
// A staged file exists once its manifest does; a directory without one is a CREATE that crashed
// before replying, and is thrown away. Removal renames the directory into trash/ first (one atomic
// step) so a crash mid-delete can never bring a removed file back.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log/logger.js';
import { fromFsError, syncDir } from './disk.js';
import { KeyIndex } from './key-index.js';
import { StagedWrite, type StagedWriteInit } from './staged-write.js';
import { UploadJournal } from './upload-journal.js';
import { describeError } from './describe-error.js';

export class StagingArea {
  private readonly byKey = new Map<string, StagedWrite>();
  /** The same keys by directory. */
  readonly index = new KeyIndex();

  private constructor(
    readonly root: string,
    readonly journal: UploadJournal,
  ) {}

  get stagingDir(): string {
    return path.join(this.root, 'staging');
  }

  get trashDir(): string {
    return path.join(this.root, 'trash');
  }

  /** Opens (creating if needed) the staging root. Call recover() next to load what it holds. */
  static async open(root: string): Promise<StagingArea> {
    try {
      await mkdir(path.join(root, 'staging'), { recursive: true });
      await rm(path.join(root, 'trash'), { recursive: true, force: true });
      await mkdir(path.join(root, 'trash'), { recursive: true });
    } catch (err) {
      throw fromFsError(err, `opening the staging directory ${root}`);
    }
    const journal = await UploadJournal.open(path.join(root, 'uploads'));
    return new StagingArea(root, journal);
  }

  /** Loads every staged file left by an earlier run; unusable directories are discarded. */
  async recover(log: Logger): Promise<StagedWrite[]> {
    let names: string[];
    try {
      names = await readdir(this.stagingDir);
    } catch (err) {
      throw fromFsError(err, `listing ${this.stagingDir}`);
    }
    for (const id of names.sort()) {
      const dir = path.join(this.stagingDir, id);
      let file: StagedWrite;
      try {
        file = await StagedWrite.load(id, dir);
      } catch (err) {
        log.warn('discarding unusable staging directory', { dir, error: describeError(err) });
        await this.moveToTrash(id);
        continue;
      }
      const other = this.byKey.get(file.key);
      if (other) {
        // Cannot happen through this module (a key has one staging at a time); keep the newer one.
        const [keep, drop] = other.createdAt >= file.createdAt ? [other, file] : [file, other];
        log.warn('two staged files for one key; keeping the newer', { key: file.key, kept: keep.id, dropped: drop.id });
        await drop.retire();
        await this.moveToTrash(drop.id);
        this.byKey.set(keep.key, keep);
        continue;
      }
      this.byKey.set(file.key, file);
      this.index.add(file.key);
    }
    return this.files();
  }

  get(key: string): StagedWrite | undefined {
    return this.byKey.get(key);
  }

  files(): StagedWrite[] {
    return [...this.byKey.values()];
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Creates a staged file for `init.key`, durably (directory entry included). */
  async create(init: StagedWriteInit): Promise<StagedWrite> {
    if (this.byKey.has(init.key)) throw new Error(`${init.key} is already staged`);
    const id = `${init.now.toString(36)}-${randomBytes(6).toString('hex')}`;
    const dir = path.join(this.stagingDir, id);
    let file: StagedWrite;
    try {
      file = await StagedWrite.create(id, dir, init);
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
    try {
      await syncDir(this.stagingDir);
    } catch (err) {
      await file.retire();
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      throw fromFsError(err, `creating staging for ${init.key}`);
    }
    this.byKey.set(init.key, file);
    this.index.add(init.key);
    return file;
  }

  /**
   * Forgets a staged file: it stops taking operations at once (callers then see the key as not
   * staged), waits for running ones, and its directory goes.
   */
  async discard(file: StagedWrite): Promise<void> {
    if (this.byKey.get(file.key) === file) {
      this.byKey.delete(file.key);
      this.index.remove(file.key);
    }
    await file.retire();
    await this.moveToTrash(file.id);
  }

  private async moveToTrash(id: string): Promise<void> {
    const from = path.join(this.stagingDir, id);
    const to = path.join(this.trashDir, id);
    try {
      await rename(from, to);
      await syncDir(this.stagingDir);
    } catch (err) {
      throw fromFsError(err, `removing staging ${id}`);
    }
    await rm(to, { recursive: true, force: true }).catch(() => {});
  }
}
