// File ids that survive restarts (ARCHITECTURE.md §3). Each export keeps a map
//   file id (64-bit)  <->  (kind, path inside the export)
// in an append-only log under the state directory, loaded at start. An id is handed out only after
// its record is on disk (fdatasync), so a server that crashes right after a LOOKUP reply still knows
// the handle it gave. Records of many callers are written and synced together (group commit), so a
// READDIRPLUS of thousands of new names costs one fdatasync, not thousands.
//
// Layout:  <stateDir>/exports/<export id, 8 hex digits>/export.json   bucket, prefix, generation
//                                                      /handles.log   header + records
// Record:  u32 payload length | u32 CRC-32 of payload | payload
// Payload: 1 MAP    u8 type | u8 kind (1 file, 2 dir) | u64 id | path (UTF-8)
//          2 FORGET u8 type | u64 id
//          3 NEXT   u8 type | u64 next id   (written by compaction: ids are never reused)
// A torn or corrupt record ends the log: it and everything after it are cut off at load. Records are
// only appended, and only acknowledged once synced, so only a never-acknowledged tail can be torn.

import { randomInt } from 'node:crypto';
import { mkdir, open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsError } from './errors.js';
import { exportIdFor } from './file-handle.js';

export type EntryKind = 'file' | 'dir';

export interface HandleRecord {
  id: bigint;
  kind: EntryKind;
  /** Path inside the export: '' is the root, 'a/b' is b inside a. */
  path: string;
}

export interface HandleStoreOptions {
  /** Where state lives; omitted = in memory only (ids do not survive a restart). */
  stateDir?: string;
  bucket: string;
  /** The normalized mount prefix ('' or ending in '/'). */
  prefix: string;
  /** Compact once this many records are dead (and they outnumber the live ones). Default 10,000. */
  compactAfterDeadRecords?: number;
  /** fdatasync before acknowledging (default true; tests of ordering only may turn it off). */
  sync?: boolean;
}

export const ROOT_ID = 1n;

const LOG_MAGIC = Buffer.from('S3NFSHL1', 'latin1');
const T_MAP = 1;
const T_FORGET = 2;
const T_NEXT = 3;
const KIND_CODE: Record<EntryKind, number> = { file: 1, dir: 2 };
const MAX_ID = (1n << 63n) - 1n;

interface ExportMeta {
  version: 1;
  bucket: string;
  prefix: string;
  exportId: number;
  generation: number;
}

interface Batch {
  buffers: Buffer[];
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class HandleStore {
  static readonly ROOT_ID = ROOT_ID;

  private readonly byId = new Map<bigint, HandleRecord>();
  private readonly byPath = new Map<string, bigint>();
  /** Ids assigned but not yet durable: callers wait on these before handing the id out. */
  private readonly notDurable = new Map<bigint, Promise<void>>();
  private nextId = ROOT_ID + 1n;
  private deadRecords = 0;
  private batch: Batch | undefined;
  /** The write loop, while it runs. */
  private draining: Promise<void> | undefined;
  private failure: unknown;
  private closed = false;

  private constructor(
    readonly exportId: number,
    /** Written into every handle; a fresh state directory gets a fresh one, so old handles go STALE. */
    readonly generation: number,
    private readonly logPath: string | undefined,
    private log: FileHandle | undefined,
    private readonly compactAfter: number,
    private readonly sync: boolean,
  ) {
    this.byId.set(ROOT_ID, { id: ROOT_ID, kind: 'dir', path: '' });
    this.byPath.set(pathKey('dir', ''), ROOT_ID);
  }

  /** Opens (or creates) the export's state and loads every id it ever issued. */
  static async open(options: HandleStoreOptions): Promise<HandleStore> {
    const exportId = exportIdFor(options.bucket, options.prefix);
    const compactAfter = options.compactAfterDeadRecords ?? 10_000;
    const sync = options.sync ?? true;
    if (options.stateDir === undefined) {
      return new HandleStore(exportId, randomGeneration(), undefined, undefined, compactAfter, sync);
    }
    const dir = join(options.stateDir, 'exports', exportId.toString(16).padStart(8, '0'));
    await mkdir(dir, { recursive: true });
    const meta = await loadOrCreateMeta(dir, options.bucket, options.prefix, exportId);
    const logPath = join(dir, 'handles.log');
    const contents = await readFile(logPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (contents === undefined) await writeDurably(logPath, LOG_MAGIC);
    const log = await open(logPath, 'a');
    const store = new HandleStore(exportId, meta.generation, logPath, log, compactAfter, sync);
    if (contents !== undefined) {
      const good = store.replay(contents);
      if (good < contents.length) {
        // A torn tail from a crash mid-append: cut it so new records follow a clean one.
        await log.truncate(good);
        await log.sync();
      }
    }
    if (store.shouldCompact()) await store.compact();
    return store;
  }

  get size(): number {
    return this.byId.size;
  }

  /** The record of an id ever issued (and not forgotten); the root is always there. */
  get(id: bigint): HandleRecord | undefined {
    return this.byId.get(id);
  }

  /** The id of (kind, path) if one was issued; it may not be durable yet (see `assign`). */
  idOf(kind: EntryKind, path: string): bigint | undefined {
    return this.byPath.get(pathKey(kind, path));
  }

  /** The id for (kind, path), issuing one if needed; resolves once the mapping is durable. */
  async assign(kind: EntryKind, path: string): Promise<bigint> {
    const key = pathKey(kind, path);
    const existing = this.byPath.get(key);
    if (existing !== undefined) {
      const pending = this.notDurable.get(existing);
      if (pending) await pending;
      return existing;
    }
    this.checkWritable();
    const id = this.nextId++;
    if (id > MAX_ID) throw fsError('NOSPC', 'file ids are exhausted');
    const record: HandleRecord = { id, kind, path };
    this.byId.set(id, record);
    this.byPath.set(key, id);
    const durable = this.append(encodeMap(record)).then(
      () => {
        this.notDurable.delete(id);
      },
      (err: unknown) => {
        this.notDurable.delete(id);
        this.byId.delete(id);
        if (this.byPath.get(key) === id) this.byPath.delete(key);
        throw fsError('IO', `could not record file id for ${kind} '${path}'`, err);
      },
    );
    this.notDurable.set(id, durable);
    await durable;
    return id;
  }

  /** Ids for many entries at once (one group commit). */
  async assignMany(entries: readonly { kind: EntryKind; path: string }[]): Promise<bigint[]> {
    const ids: bigint[] = new Array<bigint>(entries.length);
    const waits: Promise<void>[] = [];
    entries.forEach((e, i) => {
      // Known and durable ids (the common case when a directory is listed again) need no promise.
      const known = this.byPath.get(pathKey(e.kind, e.path));
      if (known !== undefined && !this.notDurable.has(known)) ids[i] = known;
      else waits.push(this.assign(e.kind, e.path).then((id) => void (ids[i] = id)));
    });
    if (waits.length > 0) await Promise.all(waits);
    return ids;
  }

  /**
   * Drops an id whose entry is gone for good: handles naming it become STALE, and the path gets a
   * new id if it ever comes back. The root cannot be forgotten.
   */
  async forget(id: bigint): Promise<void> {
    if (id === ROOT_ID) return;
    const record = this.byId.get(id);
    if (!record) return;
    const pending = this.notDurable.get(id);
    if (pending) await pending.catch(() => undefined);
    if (!this.byId.has(id)) return;
    this.checkWritable();
    this.byId.delete(id);
    const key = pathKey(record.kind, record.path);
    if (this.byPath.get(key) === id) this.byPath.delete(key);
    this.deadRecords += 2;
    await this.append(encodeForget(id));
  }

  /** Waits for every pending record, then closes the log. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.draining) await this.draining;
    await this.log?.close();
    this.log = undefined;
  }

  // ---- log ------------------------------------------------------------------------------------

  private checkWritable(): void {
    if (this.closed) throw fsError('IO', 'the handle store is closed');
    if (this.failure !== undefined) {
      throw fsError('IO', 'the handle store could not write its log earlier; restart the server', this.failure);
    }
  }

  private append(record: Buffer): Promise<void> {
    if (this.logPath === undefined) return Promise.resolve();
    if (!this.batch) this.batch = newBatch();
    this.batch.buffers.push(record);
    const done = this.batch.done;
    if (!this.draining) {
      // setImmediate, not a microtask: callers in the same turn (a whole READDIR page) join the batch.
      this.draining = new Promise<void>((resolve) => setImmediate(() => void this.drain().then(resolve)));
    }
    return done;
  }

  private async drain(): Promise<void> {
    while (this.batch) {
      const batch = this.batch;
      this.batch = undefined;
      try {
        if (this.failure !== undefined) throw this.failure;
        await writeAll(this.log!, Buffer.concat(batch.buffers));
        if (this.sync) await this.log!.datasync();
        batch.resolve();
      } catch (err) {
        // After a failed append the log's tail is unknown: stop writing rather than risk a record
        // after a torn one (the loader would cut it off).
        this.failure ??= err;
        batch.reject(err);
        continue;
      }
      if (this.shouldCompact()) {
        try {
          await this.compact();
        } catch (err) {
          this.failure ??= err;
        }
      }
    }
    this.draining = undefined;
  }

  private shouldCompact(): boolean {
    return this.logPath !== undefined && this.deadRecords >= this.compactAfter && this.deadRecords > this.byId.size;
  }

  /** Rewrites the log with only live records, atomically (write, sync, rename, sync the directory). */
  private async compact(): Promise<void> {
    const logPath = this.logPath!;
    const parts: Buffer[] = [LOG_MAGIC, encodeNext(this.nextId)];
    for (const record of this.byId.values()) if (record.id !== ROOT_ID) parts.push(encodeMap(record));
    const tmp = `${logPath}.compact`;
    await writeDurably(tmp, Buffer.concat(parts));
    await rename(tmp, logPath);
    await syncDirectory(logPath);
    await this.log?.close();
    this.log = await open(logPath, 'a');
    this.deadRecords = 0;
  }

  /** Applies the log's records; returns the length of its good part. */
  private replay(contents: Buffer): number {
    if (contents.length < LOG_MAGIC.length || !contents.subarray(0, LOG_MAGIC.length).equals(LOG_MAGIC)) {
      throw fsError('IO', `${this.logPath} is not a handle log`);
    }
    let at = LOG_MAGIC.length;
    while (at + 8 <= contents.length) {
      const length = contents.readUInt32BE(at);
      const end = at + 8 + length;
      if (length === 0 || end > contents.length) break;
      const payload = contents.subarray(at + 8, end);
      if (crc32(payload) !== contents.readUInt32BE(at + 4)) break;
      if (!this.apply(payload)) break;
      at = end;
    }
    return at;
  }

  private apply(payload: Buffer): boolean {
    const type = payload[0];
    if (type === T_MAP && payload.length >= 10) {
      const kind = payload[1] === KIND_CODE.file ? 'file' : payload[1] === KIND_CODE.dir ? 'dir' : undefined;
      if (!kind) return false;
      const id = payload.readBigUInt64BE(2);
      const path = payload.subarray(10).toString('utf8');
      const key = pathKey(kind, path);
      if (this.byPath.has(key)) this.deadRecords++;
      this.byId.set(id, { id, kind, path });
      this.byPath.set(key, id);
      if (id >= this.nextId) this.nextId = id + 1n;
      return true;
    }
    if (type === T_FORGET && payload.length === 9) {
      const id = payload.readBigUInt64BE(1);
      const record = this.byId.get(id);
      if (record && id !== ROOT_ID) {
        this.byId.delete(id);
        const key = pathKey(record.kind, record.path);
        if (this.byPath.get(key) === id) this.byPath.delete(key);
        this.deadRecords++;
      }
      this.deadRecords++;
      return true;
    }
    if (type === T_NEXT && payload.length === 9) {
      const next = payload.readBigUInt64BE(1);
      if (next > this.nextId) this.nextId = next;
      return true;
    }
    return false;
  }
}

function pathKey(kind: EntryKind, path: string): string {
  return (kind === 'dir' ? 'd:' : 'f:') + path;
}

function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  payload.copy(out, 8);
  return out;
}

function encodeMap(record: HandleRecord): Buffer {
  const path = Buffer.from(record.path, 'utf8');
  const payload = Buffer.allocUnsafe(10 + path.length);
  payload[0] = T_MAP;
  payload[1] = KIND_CODE[record.kind];
  payload.writeBigUInt64BE(record.id, 2);
  path.copy(payload, 10);
  return frame(payload);
}

function encodeForget(id: bigint): Buffer {
  const payload = Buffer.allocUnsafe(9);
  payload[0] = T_FORGET;
  payload.writeBigUInt64BE(id, 1);
  return frame(payload);
}

function encodeNext(next: bigint): Buffer {
  const payload = Buffer.allocUnsafe(9);
  payload[0] = T_NEXT;
  payload.writeBigUInt64BE(next, 1);
  return frame(payload);
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody awaits any more (every caller rolled back) must not crash the process.
  done.catch(() => undefined);
  return { buffers: [], done, resolve, reject };
}

function randomGeneration(): number {
  return randomInt(1, 0xffffffff);
}

async function writeAll(file: FileHandle, data: Buffer): Promise<void> {
  let at = 0;
  while (at < data.length) {
    const { bytesWritten } = await file.write(data, at, data.length - at);
    at += bytesWritten;
  }
}

async function writeDurably(path: string, data: Buffer): Promise<void> {
  const file = await open(path, 'w');
  try {
    await writeAll(file, data);
    await file.sync();
  } finally {
    await file.close();
  }
  await syncDirectory(path);
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(join(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function loadOrCreateMeta(dir: string, bucket: string, prefix: string, exportId: number): Promise<ExportMeta> {
  const path = join(dir, 'export.json');
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined) {
    const meta = JSON.parse(text) as Partial<ExportMeta>;
    if (meta.version !== 1 || typeof meta.generation !== 'number') throw fsError('IO', `${path} is not readable export state`);
    if (meta.bucket !== bucket || meta.prefix !== prefix) {
      // Two exports whose ids collide: refuse rather than mix their handles.
      throw fsError('IO', `${path} belongs to bucket '${meta.bucket}' prefix '${meta.prefix}', not '${bucket}' '${prefix}'`);
    }
    return meta as ExportMeta;
  }
  const meta: ExportMeta = { version: 1, bucket, prefix, exportId, generation: randomGeneration() };
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(meta, null, 2) + '\n');
  const file = await open(tmp, 'r+');
  await file.sync();
  await file.close();
  await rename(tmp, path);
  await syncDirectory(path);
  return meta;
}
