// The file system the NFS programs talk to: every call is keyed by a 64-bit file id and answers in
// plain values or throws FsError. src/nfs turns handles into ids (handleFor / idForHandle) and
// statuses into nfsstat3; nothing here knows about XDR.
//
// S3FileSystem is the bucket-backed implementation: names by ARCHITECTURE.md §2 (Namespace,
// DirectoryListing), ids by §3 (HandleStore), bytes by a ReadPath (§4), changes by the WritePath
// (§5: staging, publish when quiet). Without a WritePath, or with readOnly, every change answers
// ROFS. What S3 can never do (links, device nodes) answers NOTSUPP on a writable export, and
// RENAME is not there yet.
//
// The write path never asks S3 anything itself: for each change this module tells it what it knows
// of the object at the key (`remote`), and it feeds what the write path publishes back into the
// metadata cache (published()).

import { silentLogger, type Logger } from '../log/logger.js';
import type { ListPage, ObjectInfo, ObjectStore } from '../s3/object-store.js';
import { grantedAccess, type Caller } from './access.js';
import {
  compareTimes,
  DEFAULT_OWNERSHIP,
  dirAttributes,
  fileAttributes,
  timeFromDate,
  timeFromObject,
  timeFromMs,
  type FileAttributes,
  type FsTime,
  type OwnershipOptions,
} from './attributes.js';
import { fromStoreError, fsError, isFsError } from './errors.js';
import { decodeFileHandle, encodeFileHandle } from './file-handle.js';
import { ROOT_ID, type EntryKind, type HandleRecord, type HandleStore } from './handle-store.js';
import { NoLocalState, type LocalState } from './local-state.js';
import type { Resolved } from './metadata-cache.js';
import { Namespace } from './namespace.js';
import { childPath, dirKeyPrefix, fileKey, nameProblem, normalizePrefix, parentPath } from './names.js';
import { DirectReadPath, isStaleRead, type ReadPath } from './read-path.js';
import { DirectoryReader, type SnapshotOptions } from './readdir.js';
import { WriteLocalState } from './write/write-local-state.js';
import type { PublishedEvent, StagedAttributeChanges, StagedFileAttributes, WritePath } from './write/write-path.js';

export { Access, type Caller } from './access.js';

/** Transfer sizes and limits (FSINFO). */
export interface FsInfo {
  rtmax: number;
  rtpref: number;
  rtmult: number;
  wtmax: number;
  wtpref: number;
  wtmult: number;
  dtpref: number;
  maxFileSize: number;
  timeDelta: FsTime;
  supportsHardLinks: boolean;
  supportsSymlinks: boolean;
  /** PATHCONF answers are the same for every file. */
  homogeneous: boolean;
  canSetTime: boolean;
}

/** Space and file counts (FSSTAT). S3 has no capacity, so the numbers are merely large. */
export interface FsStat {
  totalBytes: number;
  freeBytes: number;
  availBytes: number;
  totalFiles: number;
  freeFiles: number;
  availFiles: number;
  /** Seconds the answer stays valid. */
  invarsec: number;
}

export interface PathConf {
  linkMax: number;
  nameMax: number;
  noTrunc: boolean;
  chownRestricted: boolean;
  caseInsensitive: boolean;
  casePreserving: boolean;
}

export interface LookupResult {
  id: bigint;
  attributes: FileAttributes;
  /** The directory searched, after the lookup. */
  dirAttributes?: FileAttributes;
}

export interface ReaddirRequest {
  /** 0 to start; else the cookie of the last entry received. */
  cookie: bigint;
  /** The verifier of the reply that cookie came from (ignored with cookie 0). */
  verifier: bigint;
  /** READDIRPLUS: attributes (and, through the ids, handles) for every entry. */
  withAttributes: boolean;
  maxEntries: number;
  /** Byte budget for the entries as `entryBytes` sizes them. */
  maxBytes?: number;
  entryBytes?: (name: string) => number;
}

export interface ReaddirEntry {
  name: string;
  fileid: bigint;
  cookie: bigint;
  /** Present when the request asked for attributes. */
  attributes?: FileAttributes;
}

export interface ReaddirReply {
  entries: ReaddirEntry[];
  verifier: bigint;
  eof: boolean;
  dirAttributes: FileAttributes;
}

export interface ReadReply {
  data: Buffer;
  eof: boolean;
  attributes: FileAttributes;
  /** Call once `data` has been written out (see ReadResult.release); optional to call. */
  release?: () => void;
}

/** SETATTR's settable fields; times are either 'server' (now) or a client time. */
export interface SetAttributes {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: 'server' | FsTime;
  mtime?: 'server' | FsTime;
}

export type StableHow = 'unstable' | 'data_sync' | 'file_sync';

export type CreateHow =
  | { mode: 'unchecked' | 'guarded'; attributes: SetAttributes }
  | { mode: 'exclusive'; verifier: Buffer };

export interface WriteReply {
  count: number;
  committed: StableHow;
  /** The server's write verifier (changes when uncommitted data may have been lost). */
  verifier: Buffer;
  attributes: FileAttributes;
}

export type SpecialFileType = 'chr' | 'blk' | 'sock' | 'fifo';

export interface FileSystem {
  /** Identifies the export (and serves as the fsid in attributes). */
  readonly exportId: number;
  readonly rootId: bigint;

  handleFor(id: bigint): Buffer;
  /** The file id a handle names: BADHANDLE if it is not one of ours, STALE if its file is unknown. */
  idForHandle(handle: Uint8Array): bigint;

  getattr(id: bigint): Promise<FileAttributes>;
  /** Attributes from what is already known, with no S3 request (for post-op attributes); may be undefined. */
  cachedAttributes(id: bigint): FileAttributes | undefined;
  lookup(dirId: bigint, name: string): Promise<LookupResult>;
  /** The subset of `requested` (Access bits) the caller has. */
  access(id: bigint, caller: Caller, requested: number): Promise<{ granted: number; attributes: FileAttributes }>;
  readdir(dirId: bigint, request: ReaddirRequest): Promise<ReaddirReply>;
  read(id: bigint, offset: number, count: number): Promise<ReadReply>;
  readlink(id: bigint): Promise<string>;
  fsstat(id: bigint): Promise<FsStat>;
  fsinfo(id: bigint): Promise<FsInfo>;
  pathconf(id: bigint): Promise<PathConf>;

  setattr(id: bigint, attributes: SetAttributes, guardCtime?: FsTime): Promise<FileAttributes>;
  write(id: bigint, offset: number, data: Buffer, stable: StableHow): Promise<WriteReply>;
  create(dirId: bigint, name: string, how: CreateHow): Promise<LookupResult>;
  mkdir(dirId: bigint, name: string, attributes: SetAttributes): Promise<LookupResult>;
  symlink(dirId: bigint, name: string, target: string, attributes: SetAttributes): Promise<LookupResult>;
  mknod(dirId: bigint, name: string, type: SpecialFileType): Promise<LookupResult>;
  remove(dirId: bigint, name: string): Promise<void>;
  rmdir(dirId: bigint, name: string): Promise<void>;
  rename(fromDirId: bigint, fromName: string, toDirId: bigint, toName: string): Promise<void>;
  link(id: bigint, dirId: bigint, name: string): Promise<void>;
  commit(id: bigint, offset: number, count: number): Promise<{ verifier: Buffer; attributes: FileAttributes }>;
}

export interface S3FileSystemOptions {
  store: ObjectStore;
  /** The export's id map (its bucket and prefix must be this export's). */
  handles: HandleStore;
  /** Mount prefix inside the bucket ('' = whole bucket). */
  prefix?: string;
  ownership?: Partial<OwnershipOptions>;
  /** How long S3 answers are reused; 0 (default) revalidates on every call, like Mountpoint's default. */
  metadataTtlMs?: number;
  /** How long "no such file" answers are reused; default = metadataTtlMs. */
  negativeTtlMs?: number;
  /** MaxKeys of LIST requests. Default 1000. */
  listPageSize?: number;
  readPath?: ReadPath;
  /** What this server knows beyond the bucket, for tests of the mapping; with a writePath it is the write path's. */
  localState?: LocalState;
  /** The write engine. Without one the export is read-only. */
  writePath?: WritePath;
  /** Refuse every change. Default: false with a writePath (and always true without one). */
  readOnly?: boolean;
  /** REMOVE (and RMDIR of a marker object) may delete objects from S3. Default false: PERM. */
  allowDelete?: boolean;
  log?: Logger;
  /** Milliseconds; injectable for tests. */
  clock?: () => number;
  /** What directories show as mtime until a change is seen; default: construction time. */
  mountTimeMs?: number;
  maxCachedPaths?: number;
  snapshots?: SnapshotOptions;
}

export const MiB = 1024 * 1024;
export const TiB = 1024 * 1024 * MiB;

const FS_INFO: FsInfo = Object.freeze({
  rtmax: MiB,
  rtpref: MiB,
  rtmult: 4096,
  wtmax: MiB,
  wtpref: MiB,
  wtmult: 4096,
  dtpref: 64 * 1024,
  maxFileSize: 5 * TiB,
  timeDelta: Object.freeze({ sec: 0, nsec: 1_000_000 }),
  supportsHardLinks: false,
  supportsSymlinks: false,
  homogeneous: true,
  canSetTime: true,
});

const PIB = 1024 * TiB;
const FS_STAT: FsStat = Object.freeze({
  totalBytes: PIB,
  freeBytes: PIB,
  availBytes: PIB,
  totalFiles: 2 ** 40,
  freeFiles: 2 ** 40,
  availFiles: 2 ** 40,
  invarsec: 0,
});

const PATH_CONF: PathConf = Object.freeze({
  linkMax: 1,
  nameMax: 255,
  noTrunc: true,
  chownRestricted: true,
  caseInsensitive: false,
  casePreserving: true,
});

export class S3FileSystem implements FileSystem {
  readonly exportId: number;
  readonly rootId = ROOT_ID;
  readonly namespace: Namespace;
  private readonly handles: HandleStore;
  private readonly reader: DirectoryReader;
  private readonly readPath: ReadPath;
  private readonly local: LocalState;
  private readonly own: OwnershipOptions;
  readonly readOnly: boolean;
  private readonly prefix: string;
  private readonly store: ObjectStore;
  private readonly writes: WritePath | undefined;
  /** The write path's local state (directories made here), when there is a write path. */
  private readonly writeLocal: WriteLocalState | undefined;
  private readonly allowDelete: boolean;
  private readonly log: Logger;
  /** Keys made by EXCLUSIVE CREATE whose first SETATTR has not come yet (see checkOwnership). */
  private readonly exclusiveCreates = new Set<string>();

  constructor(options: S3FileSystemOptions) {
    const clock = options.clock ?? Date.now;
    const metadataTtlMs = options.metadataTtlMs ?? 0;
    const listPageSize = options.listPageSize ?? 1000;
    this.prefix = normalizePrefix(options.prefix ?? '');
    this.store = options.store;
    this.handles = options.handles;
    this.exportId = options.handles.exportId;
    this.writes = options.writePath;
    if (this.writes && options.localState) throw new RangeError('with a writePath, local state is the write path\'s');
    this.writeLocal = this.writes ? new WriteLocalState(this.writes, options.store, this.prefix) : undefined;
    this.local = this.writeLocal ?? options.localState ?? new NoLocalState();
    this.own = { ...DEFAULT_OWNERSHIP, ...options.ownership };
    this.readOnly = this.writes === undefined || (options.readOnly ?? false);
    this.allowDelete = options.allowDelete ?? false;
    this.log = (options.log ?? silentLogger).child({ component: 'fs' });
    this.readPath = options.readPath ?? new DirectReadPath(options.store);
    this.namespace = new Namespace({
      store: options.store,
      prefix: this.prefix,
      local: this.local,
      metadataTtlMs,
      negativeTtlMs: options.negativeTtlMs ?? metadataTtlMs,
      probeKeys: Math.min(listPageSize, 100),
      maxCachedPaths: options.maxCachedPaths ?? 100_000,
      clock,
      mountTime: timeFromMs(options.mountTimeMs ?? clock()),
    });
    this.reader = new DirectoryReader(this.namespace, this.handles, listPageSize, options.snapshots);
  }

  /**
   * The write path calls this when local state at `path` changed (a file created, staged, published
   * or removed; a directory made or removed): cached answers about it and its directory's cached
   * listing are dropped, and the directory's mtime moves so clients revalidate.
   */
  localChanged(path: string): void {
    const dir = parentPath(path);
    this.namespace.forget(path);
    this.namespace.touchDirectory(dir);
    this.reader.invalidate(dir);
    this.reader.invalidate(path);
  }

  /**
   * The write path's onPublished: the object is in S3 now, with this ETag. The metadata cache
   * learns it (so READs after the staged copy goes use the new version), and directories made here
   * that hold it become ordinary S3 directories.
   */
  published(event: PublishedEvent): void {
    if (!event.key.startsWith(this.prefix)) return;
    const path = event.key.slice(this.prefix.length);
    this.writeLocal?.settleDirectories(path);
    // Every directory above the key (settled ones too) has new contents in S3: look again when asked.
    for (let dir = parentPath(path); ; dir = parentPath(dir)) {
      this.namespace.forget(dir);
      if (dir === '') break;
    }
    if (event.etag === '') {
      // No ETag to read it by: let the next look ask S3.
      this.namespace.forget(path);
    } else {
      const object: ObjectInfo = { key: event.key, size: event.size, etag: event.etag, lastModified: event.publishedAt };
      this.namespace.observe(path, { kind: 'file', origin: 'remote', object }, this.namespace.now());
    }
    this.reader.invalidate(parentPath(path));
  }

  // ---- handles --------------------------------------------------------------------------------

  handleFor(id: bigint): Buffer {
    // The root's handle carries no generation, so it stays valid even if the state directory is lost.
    const generation = id === ROOT_ID ? 0 : this.handles.generation;
    return encodeFileHandle({ exportId: this.exportId, fileId: id, generation });
  }

  idForHandle(handle: Uint8Array): bigint {
    const fields = decodeFileHandle(handle);
    // An export we do not serve (any more) is STALE, as knfsd answers; the client then sees ESTALE.
    if (fields.exportId !== this.exportId) throw fsError('STALE', `handle names export ${fields.exportId.toString(16)}`);
    if (fields.fileId === ROOT_ID) {
      if (fields.generation !== 0) throw fsError('STALE', 'root handle with a generation');
      return ROOT_ID;
    }
    if (fields.generation !== this.handles.generation) {
      throw fsError('STALE', `handle generation ${fields.generation} is not this state's ${this.handles.generation}`);
    }
    if (!this.handles.get(fields.fileId)) throw fsError('STALE', `file id ${fields.fileId} was never issued or was forgotten`);
    return fields.fileId;
  }

  // ---- reading the namespace ------------------------------------------------------------------

  async getattr(id: bigint): Promise<FileAttributes> {
    const record = this.record(id);
    if (record.kind === 'dir') {
      if (!(await this.namespace.probeDirectory(record.path))) throw this.gone(record);
      return this.dirAttrs(id, record.path);
    }
    const resolved = await this.namespace.resolve(record.path);
    if (resolved?.kind !== 'file') throw this.gone(record);
    return this.attributesOf(id, record.path, resolved);
  }

  cachedAttributes(id: bigint): FileAttributes | undefined {
    const record = this.handles.get(id);
    if (!record) return undefined;
    if (record.kind === 'dir') return this.dirAttrs(id, record.path);
    const local = this.local.localFile(record.path);
    if (local) return fileAttributes(id, local.size, local.mtime, this.own);
    const seen = this.namespace.cache.peek(record.path)?.value;
    return seen?.kind === 'file' ? this.attributesOf(id, record.path, seen) : undefined;
  }

  async lookup(dirId: bigint, name: string): Promise<LookupResult> {
    const dir = this.directory(dirId);
    if (name === '.') return { id: dirId, attributes: await this.getattr(dirId) };
    if (name === '..') {
      const parentId = dir.path === '' ? ROOT_ID : await this.handles.assign('dir', parentPath(dir.path));
      return { id: parentId, attributes: await this.getattr(parentId), dirAttributes: this.dirAttrs(dirId, dir.path) };
    }
    const problem = nameProblem(name);
    if (problem === 'toolong') throw fsError('NAMETOOLONG', `name of ${Buffer.byteLength(name)} bytes`);
    if (problem === 'invalid') throw fsError('NOENT', `'${name}' is not a valid name, so nothing can have it`);
    const path = childPath(dir.path, name);
    const resolved = await this.namespace.resolve(path);
    if (!resolved) throw fsError('NOENT', `no '${path}'`);
    const id = await this.handles.assign(resolved.kind, path);
    return { id, attributes: this.attributesOf(id, path, resolved), dirAttributes: this.dirAttrs(dirId, dir.path) };
  }

  async access(id: bigint, caller: Caller, requested: number): Promise<{ granted: number; attributes: FileAttributes }> {
    // Rights depend only on the type and the configured owner and modes, so what is already known
    // answers: the client sends ACCESS right after GETATTR or LOOKUP, which just asked S3.
    const attributes = this.cachedAttributes(id) ?? (await this.getattr(id));
    return { granted: grantedAccess(attributes, caller, requested, this.readOnly), attributes };
  }

  async readdir(dirId: bigint, request: ReaddirRequest): Promise<ReaddirReply> {
    const dir = this.directory(dirId);
    const limits = {
      maxEntries: request.maxEntries,
      ...(request.maxBytes === undefined ? {} : { maxBytes: request.maxBytes }),
      ...(request.entryBytes === undefined ? {} : { entryBytes: request.entryBytes }),
    };
    const page = await this.reader.read(dirId, dir.path, request.cookie, request.verifier, limits);
    const entries = page.entries.map((e): ReaddirEntry => {
      const out: ReaddirEntry = { name: e.name, fileid: e.fileid, cookie: e.cookie };
      if (!request.withAttributes) return out;
      if (e.kind === 'dir') {
        const path = e.name === '.' ? dir.path : e.name === '..' ? parentPath(dir.path) : childPath(dir.path, e.name);
        out.attributes = this.dirAttrs(e.fileid, path);
      } else if (e.local) {
        // The listing may be a little older than the file's last WRITE: show what is staged now.
        const now = this.local.localFile(childPath(dir.path, e.name)) ?? e.local;
        out.attributes = fileAttributes(e.fileid, now.size, now.mtime, this.own);
      } else {
        out.attributes = fileAttributes(e.fileid, e.object!.size, timeFromObject(e.object!.lastModified), this.own);
      }
      return out;
    });
    return { entries, verifier: page.verifier, eof: page.eof, dirAttributes: this.dirAttrs(dirId, dir.path) };
  }

  async read(id: bigint, offset: number, count: number): Promise<ReadReply> {
    const record = this.record(id);
    if (record.kind === 'dir') throw fsError('ISDIR', `'${record.path}' is a directory`);
    count = Math.max(0, Math.min(count, FS_INFO.rtmax));
    // A READ right after LOOKUP/GETATTR uses what they saw, whatever its age: If-Match catches changes.
    let resolved = this.knownFile(record.path) ?? (await this.namespace.resolve(record.path));
    for (let attempt = 0; ; attempt++) {
      if (resolved?.kind !== 'file') throw this.gone(record);
      if (resolved.origin === 'local') {
        const got = await this.local.readLocalFile(record.path, offset, count);
        return { ...got, attributes: this.attributesOf(id, record.path, resolved) };
      }
      const object = resolved.object;
      try {
        const got = await this.readPath.read(id, { key: object.key, size: object.size, etag: object.etag }, offset, count);
        const attributes = this.attributesOf(id, record.path, resolved);
        return { data: got.data, eof: got.eof, attributes, ...(got.release ? { release: got.release } : {}) };
      } catch (err) {
        if (!isStaleRead(err) || attempt > 0) throw fromStoreError(err, `READ ${object.key}`);
        // The object was replaced or deleted since we looked: look again and read the new version
        // from scratch (the new attributes tell the client to drop what it cached).
        this.readPath.invalidate(id);
        resolved = await this.namespace.resolve(record.path, { fresh: true });
      }
    }
  }

  async readlink(id: bigint): Promise<string> {
    this.record(id);
    throw fsError('INVAL', 'there are no symbolic links here');
  }

  async fsstat(id: bigint): Promise<FsStat> {
    this.record(id);
    return FS_STAT;
  }

  async fsinfo(id: bigint): Promise<FsInfo> {
    this.record(id);
    return FS_INFO;
  }

  async pathconf(id: bigint): Promise<PathConf> {
    this.record(id);
    return PATH_CONF;
  }

  // ---- changes ------------------------------------------------------------------------------

  /**
   * SETATTR. Size and times apply to staged files (a truncate to 0 of an object stages its empty
   * replacement, with --allow-overwrite); S3 keeps no times, so setting them on an object that is
   * not staged is accepted and changes nothing. Owner and mode are the export's, the same for every
   * file: changing them is PERM, except the mode `cp` sets right after its EXCLUSIVE CREATE.
   */
  async setattr(id: bigint, attributes: SetAttributes, guardCtime?: FsTime): Promise<FileAttributes> {
    const record = this.record(id);
    const writes = this.writable('SETATTR');
    const key = fileKey(this.prefix, record.path);
    this.checkOwnership(record, key, attributes);
    if (guardCtime !== undefined) {
      const now = await this.getattr(id);
      if (compareTimes(now.ctime, guardCtime) !== 0) throw fsError('NOT_SYNC', `'${record.path}' changed since the client looked`);
    }
    if (record.kind === 'dir') {
      if (attributes.size !== undefined) throw fsError('ISDIR', `'${record.path}' is a directory`);
      // A directory's times are its change stamp, which follows its contents.
      return this.getattr(id);
    }
    const changes = stagedChanges(attributes);
    if (changes.size === undefined && changes.atime === undefined && changes.mtime === undefined) return this.getattr(id);
    const wasStaged = writes.isStaged(key);
    let remote: ObjectInfo | undefined;
    const staged = await this.withRemote(record, key, (known) => {
      remote = known;
      return writes.setAttributes(key, changes, known);
    });
    if (!staged) {
      // An object that is not staged and stays so (times only, or its size unchanged).
      if (remote) return fileAttributes(id, remote.size, timeFromObject(remote.lastModified), this.own);
      return this.getattr(id);
    }
    if (!wasStaged) this.fileChanged(id, record.path);
    return this.stagedAttributes(id, staged);
  }

  async write(id: bigint, offset: number, data: Buffer, stable: StableHow): Promise<WriteReply> {
    const record = this.record(id);
    const writes = this.writable('WRITE');
    if (record.kind === 'dir') throw fsError('ISDIR', `'${record.path}' is a directory`);
    const key = fileKey(this.prefix, record.path);
    const wasStaged = writes.isStaged(key);
    const done = await this.withRemote(record, key, (remote) => writes.write(key, offset, data, stable, remote));
    if (!wasStaged && writes.isStaged(key)) this.fileChanged(id, record.path);
    return {
      count: done.count,
      committed: done.committed,
      verifier: writes.verifier.bytes,
      attributes: await this.fileAttributesNow(id, key),
    };
  }

  async commit(id: bigint, _offset: number, _count: number): Promise<{ verifier: Buffer; attributes: FileAttributes }> {
    const record = this.record(id);
    const writes = this.writable('COMMIT');
    if (record.kind === 'dir') throw fsError('ISDIR', `'${record.path}' is a directory`);
    const key = fileKey(this.prefix, record.path);
    // COMMIT comes mid-file as often as at the end (nfs-client-writes.md): it makes the staged
    // bytes durable and nothing more; publishing waits for the file to go quiet.
    await writes.commit(key);
    return { verifier: writes.verifier.bytes, attributes: await this.fileAttributesNow(id, key) };
  }

  /**
   * CREATE. UNCHECKED on an existing file opens it (a size of 0 replaces it, with
   * --allow-overwrite); GUARDED fails with EXIST; EXCLUSIVE fails with EXIST unless the file is the
   * one an earlier CREATE with the same verifier made (a retransmission). A directory of the same
   * name is always EXIST. Mode, owner and group the client asks for are the export's anyway.
   */
  async create(dirId: bigint, name: string, how: CreateHow): Promise<LookupResult> {
    const dir = this.directory(dirId);
    const writes = this.writable('CREATE');
    const path = this.newEntryPath(dir, name, 'file');
    const key = fileKey(this.prefix, path);
    const resolved = await this.namespace.resolve(path);
    if (resolved?.kind === 'dir') throw fsError('EXIST', `'${path}' is a directory`);
    const remote = this.remoteSeen(path);
    const wasStaged = writes.isStaged(key);
    const staged =
      how.mode === 'exclusive'
        ? await writes.create(key, { mode: 'exclusive', verifier: how.verifier }, remote)
        : await writes.create(key, { mode: how.mode }, remote, stagedChanges(how.attributes));
    const id = await this.handles.assign('file', path);
    if (!staged) {
      // UNCHECKED on an object that stays as it is.
      if (!remote) throw fsError('STALE', `'${path}' vanished during CREATE`);
      return { id, attributes: fileAttributes(id, remote.size, timeFromObject(remote.lastModified), this.own), dirAttributes: this.dirAttrs(dirId, dir.path) };
    }
    if (how.mode === 'exclusive') this.noteExclusiveCreate(key);
    if (!wasStaged) this.fileChanged(id, path);
    return { id, attributes: this.stagedAttributes(id, staged), dirAttributes: this.dirAttrs(dirId, dir.path) };
  }

  /**
   * MKDIR makes a directory on this server only (S3 has no empty directories), as Mountpoint does:
   * it shows here until a file written inside it is published, and from then on it is an ordinary
   * S3 directory (a prefix with keys).
   */
  async mkdir(dirId: bigint, name: string, _attributes: SetAttributes): Promise<LookupResult> {
    const dir = this.directory(dirId);
    this.writable('MKDIR');
    const path = this.newEntryPath(dir, name, 'dir');
    if (await this.namespace.resolve(path)) throw fsError('EXIST', `'${path}' exists`);
    this.writeLocal!.addDirectory(path);
    this.localChanged(path);
    const id = await this.handles.assign('dir', path);
    return { id, attributes: this.dirAttrs(id, path), dirAttributes: this.dirAttrs(dirId, dir.path) };
  }

  /**
   * REMOVE. A file being written here is dropped; an object in S3 (including one this server
   * published from the file) is deleted only with --allow-delete, and is otherwise PERM.
   */
  async remove(dirId: bigint, name: string): Promise<void> {
    const dir = this.directory(dirId);
    const writes = this.writable('REMOVE');
    const path = this.existingEntryPath(dir, name);
    const key = fileKey(this.prefix, path);
    const resolved = await this.namespace.resolve(path);
    if (!resolved) throw fsError('NOENT', `no '${path}'`);
    if (resolved.kind === 'dir') throw fsError('ISDIR', `'${path}' is a directory`);
    const staged = writes.isStaged(key);
    // Refuse before changing anything when an object would have to go.
    if (!this.allowDelete && (!staged || (await this.objectExists(key)))) throw this.deleteRefused(key);
    const id = this.handles.idOf('file', path);
    try {
      const { published } = staged ? await writes.remove(key) : { published: true };
      if (published) {
        if (!this.allowDelete) {
          // It was published between the check above and the drop: S3 keeps it.
          this.log.warn('a file removed while it was being published stays in S3', { key });
          throw this.deleteRefused(key);
        }
        await this.deleteObject(key);
      }
    } finally {
      this.localChanged(path);
      if (id !== undefined) this.readPath.invalidate(id);
    }
  }

  /**
   * RMDIR of an empty directory. Directories made here are empty until something is written in
   * them. A directory that exists in S3 only because keys lie under it is never empty; one that
   * is only a marker object (`dir/`) is removed by deleting the marker, with --allow-delete.
   */
  async rmdir(dirId: bigint, name: string): Promise<void> {
    const dir = this.directory(dirId);
    this.writable('RMDIR');
    const path = this.existingEntryPath(dir, name);
    const resolved = await this.namespace.resolve(path);
    if (!resolved) throw fsError('NOENT', `no '${path}'`);
    if (resolved.kind !== 'dir') throw fsError('NOTDIR', `'${path}' is not a directory`);
    if (this.local.localChildren(path).length > 0) throw fsError('NOTEMPTY', `'${path}' holds files or directories made here`);
    const marker = dirKeyPrefix(this.prefix, path);
    let page: ListPage;
    try {
      page = await this.store.list({ prefix: marker, maxKeys: 2 });
    } catch (err) {
      throw fromStoreError(err, `LIST ${marker}`);
    }
    const hasMarker = page.objects.some((o) => o.key === marker);
    if (page.prefixes.length > 0 || page.objects.length > (hasMarker ? 1 : 0) || page.nextToken !== undefined) {
      throw fsError('NOTEMPTY', `keys lie under ${marker} in S3`);
    }
    if (hasMarker && !this.allowDelete) throw this.deleteRefused(marker);
    try {
      if (hasMarker) await this.deleteObject(marker);
      this.writeLocal!.removeDirectory(path);
    } finally {
      this.localChanged(path);
    }
  }

  async rename(fromDirId: bigint, fromName: string, toDirId: bigint, _toName: string): Promise<void> {
    const from = this.directory(fromDirId);
    this.directory(toDirId);
    this.writable('RENAME');
    throw fsError('NOTSUPP', `RENAME of '${childPath(from.path, fromName)}' is not supported yet`);
  }

  async symlink(dirId: bigint, _name: string, _target: string, _attributes: SetAttributes): Promise<LookupResult> {
    this.directory(dirId);
    this.writable('SYMLINK');
    throw fsError('NOTSUPP', 'S3 has no symbolic links');
  }

  async mknod(dirId: bigint, _name: string, _type: SpecialFileType): Promise<LookupResult> {
    this.directory(dirId);
    this.writable('MKNOD');
    throw fsError('NOTSUPP', 'S3 has no device nodes, sockets or FIFOs');
  }

  async link(id: bigint, dirId: bigint, _name: string): Promise<void> {
    this.record(id);
    this.directory(dirId);
    this.writable('LINK');
    throw fsError('NOTSUPP', 'S3 has no hard links');
  }

  // ---- helpers --------------------------------------------------------------------------------

  private record(id: bigint): HandleRecord {
    const record = this.handles.get(id);
    if (!record) throw fsError('STALE', `file id ${id} is unknown`);
    return record;
  }

  private directory(id: bigint): HandleRecord {
    const record = this.record(id);
    if (record.kind !== 'dir') throw fsError('NOTDIR', `'${record.path}' is not a directory`);
    return record;
  }

  /** The write path, or ROFS when this export takes no changes. */
  private writable(what: string): WritePath {
    if (this.readOnly || !this.writes) throw fsError('ROFS', `${what}: this export is read-only`);
    return this.writes;
  }

  /**
   * Every file has the export's owner, group and mode, so SETATTR may only "change" them to what
   * they are. One exception: `cp` (O_EXCL) sends EXCLUSIVE CREATE, which carries no attributes,
   * then SETATTR with the mode it wanted; that mode is accepted and ignored, or every cp into an
   * export with a non-default --file-mode would fail.
   */
  private checkOwnership(record: HandleRecord, key: string, attributes: SetAttributes): void {
    const justCreated = record.kind === 'file' && this.exclusiveCreates.delete(key);
    const mode = record.kind === 'dir' ? this.own.dirMode : this.own.fileMode;
    if (attributes.mode !== undefined && (attributes.mode & 0o7777) !== mode && !justCreated) {
      throw fsError('PERM', `'${record.path}': modes are fixed by the export (${mode.toString(8)})`);
    }
    if (attributes.uid !== undefined && attributes.uid !== this.own.uid) {
      throw fsError('PERM', `'${record.path}': every file belongs to uid ${this.own.uid}`);
    }
    if (attributes.gid !== undefined && attributes.gid !== this.own.gid) {
      throw fsError('PERM', `'${record.path}': every file belongs to gid ${this.own.gid}`);
    }
  }

  private noteExclusiveCreate(key: string): void {
    this.exclusiveCreates.delete(key);
    this.exclusiveCreates.add(key);
    // Bounded: a CREATE whose SETATTR never comes must not pin memory.
    if (this.exclusiveCreates.size > 10_000) this.exclusiveCreates.delete(this.exclusiveCreates.values().next().value!);
  }

  /**
   * Runs a write-path step with what is known of the object at the key. A staged file needs no
   * look at S3; if it was dropped (after publishing) between the check and the step, the step
   * runs again with a fresh look.
   */
  private async withRemote<T>(record: HandleRecord, key: string, step: (remote: ObjectInfo | undefined) => Promise<T>): Promise<T> {
    const writes = this.writes!;
    if (writes.isStaged(key)) {
      try {
        return await step(this.remoteSeen(record.path));
      } catch (err) {
        if (!isFsError(err, 'STALE') || writes.isStaged(key)) throw err;
      }
    }
    const resolved = await this.namespace.resolve(record.path);
    if (resolved?.kind !== 'file') throw this.gone(record);
    return step(this.remoteSeen(record.path));
  }

  /** The object last seen at `path` in S3 (the namespace keeps the remote answer apart from local state). */
  private remoteSeen(path: string): ObjectInfo | undefined {
    const seen = this.namespace.cache.peek(path)?.value;
    return seen?.kind === 'file' && seen.origin === 'remote' ? seen.object : undefined;
  }

  /** A file became staged or stopped being staged: listings and buffered reads of it are out of date. */
  private fileChanged(id: bigint, path: string): void {
    this.localChanged(path);
    this.readPath.invalidate(id);
  }

  private stagedAttributes(id: bigint, staged: StagedFileAttributes): FileAttributes {
    return fileAttributes(id, staged.size, timeFromDate(staged.mtime), this.own);
  }

  /** After WRITE or COMMIT: the staged attributes, or (published and dropped already) a fresh look. */
  private async fileAttributesNow(id: bigint, key: string): Promise<FileAttributes> {
    const staged = this.writes?.getAttributes(key);
    return staged ? this.stagedAttributes(id, staged) : this.getattr(id);
  }

  /** The path for a new entry named `name`, or why there cannot be one. */
  private newEntryPath(dir: HandleRecord, name: string, kind: EntryKind): string {
    if (name === '.' || name === '..') throw fsError('EXIST', `'${name}' always exists`);
    const problem = nameProblem(name);
    if (problem === 'toolong') throw fsError('NAMETOOLONG', `name of ${Buffer.byteLength(name)} bytes`);
    if (problem === 'invalid') throw fsError('INVAL', `'${name}' cannot be a name in S3 here`);
    const path = childPath(dir.path, name);
    // A directory needs room for at least `/x` after it to ever hold a key.
    const keyBytes = Buffer.byteLength(fileKey(this.prefix, path)) + (kind === 'dir' ? 2 : 0);
    if (keyBytes > MAX_KEY_BYTES) throw fsError('NAMETOOLONG', `the key for '${path}' would exceed ${MAX_KEY_BYTES} bytes`);
    return path;
  }

  /** The path of an existing entry to remove. */
  private existingEntryPath(dir: HandleRecord, name: string): string {
    if (name === '.' || name === '..') throw fsError('INVAL', `cannot remove '${name}'`);
    const problem = nameProblem(name);
    if (problem === 'toolong') throw fsError('NAMETOOLONG', `name of ${Buffer.byteLength(name)} bytes`);
    if (problem === 'invalid') throw fsError('NOENT', `'${name}' is not a valid name, so nothing can have it`);
    return childPath(dir.path, name);
  }

  private async objectExists(key: string): Promise<boolean> {
    try {
      return (await this.store.head(key)) !== undefined;
    } catch (err) {
      throw fromStoreError(err, `HEAD ${key}`);
    }
  }

  private async deleteObject(key: string): Promise<void> {
    try {
      await this.store.delete(key);
    } catch (err) {
      throw fromStoreError(err, `DELETE ${key}`);
    }
    this.log.info('deleted', { key });
  }

  private deleteRefused(key: string): Error {
    return fsError('PERM', `deleting ${key} from S3 needs --allow-delete`);
  }

  private gone(record: HandleRecord): Error {
    const what = record.kind === 'dir' ? 'directory' : 'file';
    return fsError('STALE', `${what} '${record.path}' (key ${fileKey(this.prefix, record.path)}) no longer exists`);
  }

  /** The last known remote or local version of a file, however old. */
  private knownFile(path: string): Resolved | undefined {
    if (this.local.localFile(path)) return undefined;
    const seen = this.namespace.cache.peek(path)?.value;
    return seen?.kind === 'file' ? seen : undefined;
  }

  private dirAttrs(id: bigint, path: string): FileAttributes {
    return dirAttributes(id, this.namespace.stamp(path), this.own);
  }

  private attributesOf(id: bigint, path: string, resolved: Resolved): FileAttributes {
    if (resolved.kind === 'dir') return this.dirAttrs(id, path);
    if (resolved.origin === 'local') return fileAttributes(id, resolved.local.size, resolved.local.mtime, this.own);
    return fileAttributes(id, resolved.object.size, timeFromObject(resolved.object.lastModified), this.own);
  }
}

/** The kinds of entry a path can be. */
export type { EntryKind };

/** S3's longest key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

/** SETATTR's size and times as the write path takes them ('server' is now). */
function stagedChanges(attributes: SetAttributes): StagedAttributeChanges {
  const out: StagedAttributeChanges = {};
  if (attributes.size !== undefined) out.size = attributes.size;
  if (attributes.atime !== undefined) out.atime = toDate(attributes.atime);
  if (attributes.mtime !== undefined) out.mtime = toDate(attributes.mtime);
  return out;
}

function toDate(time: 'server' | FsTime): Date {
  return time === 'server' ? new Date() : new Date(time.sec * 1000 + Math.floor(time.nsec / 1_000_000));
}
