// The file system the NFS programs talk to: every call is keyed by a 64-bit file id and answers in
// plain values or throws FsError. src/nfs turns handles into ids (handleFor / idForHandle) and
// statuses into nfsstat3; nothing here knows about XDR.
//
// S3FileSystem is the bucket-backed implementation: names by ARCHITECTURE.md §2 (Namespace,
// DirectoryListing), ids by §3 (HandleStore), bytes by a ReadPath. Writes are not part of this
// slice: every call that would change something answers ROFS, and what S3 can never do (links,
// device nodes) answers NOTSUPP.

import type { ObjectStore } from '../s3/object-store.js';
import { grantedAccess, type Caller } from './access.js';
import {
  DEFAULT_OWNERSHIP,
  dirAttributes,
  fileAttributes,
  timeFromDate,
  timeFromMs,
  type FileAttributes,
  type FsTime,
  type OwnershipOptions,
} from './attributes.js';
import { fromStoreError, fsError } from './errors.js';
import { decodeFileHandle, encodeFileHandle } from './file-handle.js';
import { ROOT_ID, type EntryKind, type HandleRecord, type HandleStore } from './handle-store.js';
import { NoLocalState, type LocalState } from './local-state.js';
import type { Resolved } from './metadata-cache.js';
import { Namespace } from './namespace.js';
import { childPath, fileKey, nameProblem, normalizePrefix, parentPath } from './names.js';
import { DirectReadPath, isStaleRead, type ReadPath } from './read-path.js';
import { DirectoryReader, type SnapshotOptions } from './readdir.js';

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
  localState?: LocalState;
  /** Refuse every change (the default in this slice). */
  readOnly?: boolean;
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
  private readonly readOnly: boolean;
  private readonly prefix: string;

  constructor(options: S3FileSystemOptions) {
    const clock = options.clock ?? Date.now;
    const metadataTtlMs = options.metadataTtlMs ?? 0;
    const listPageSize = options.listPageSize ?? 1000;
    this.prefix = normalizePrefix(options.prefix ?? '');
    this.handles = options.handles;
    this.exportId = options.handles.exportId;
    this.local = options.localState ?? new NoLocalState();
    this.own = { ...DEFAULT_OWNERSHIP, ...options.ownership };
    this.readOnly = options.readOnly ?? true;
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
    this.namespace.cache.delete(path);
    this.namespace.touchDirectory(dir);
    this.reader.invalidate(dir);
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
    const attributes = await this.getattr(id);
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
        out.attributes = fileAttributes(e.fileid, e.local.size, e.local.mtime, this.own);
      } else {
        out.attributes = fileAttributes(e.fileid, e.object!.size, timeFromDate(e.object!.lastModified), this.own);
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
        return { data: got.data, eof: got.eof, attributes: this.attributesOf(id, record.path, resolved) };
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

  // ---- changes: not in this slice -------------------------------------------------------------

  async setattr(id: bigint, _attributes: SetAttributes, _guardCtime?: FsTime): Promise<FileAttributes> {
    return this.refuse(id, 'SETATTR');
  }

  async write(id: bigint, _offset: number, _data: Buffer, _stable: StableHow): Promise<WriteReply> {
    return this.refuse(id, 'WRITE');
  }

  async create(dirId: bigint, _name: string, _how: CreateHow): Promise<LookupResult> {
    return this.refuse(dirId, 'CREATE');
  }

  async mkdir(dirId: bigint, _name: string, _attributes: SetAttributes): Promise<LookupResult> {
    return this.refuse(dirId, 'MKDIR');
  }

  async remove(dirId: bigint, _name: string): Promise<void> {
    return this.refuse(dirId, 'REMOVE');
  }

  async rmdir(dirId: bigint, _name: string): Promise<void> {
    return this.refuse(dirId, 'RMDIR');
  }

  async rename(fromDirId: bigint, _fromName: string, toDirId: bigint, _toName: string): Promise<void> {
    this.record(toDirId);
    return this.refuse(fromDirId, 'RENAME');
  }

  async commit(id: bigint, _offset: number, _count: number): Promise<{ verifier: Buffer; attributes: FileAttributes }> {
    return this.refuse(id, 'COMMIT');
  }

  async symlink(dirId: bigint, _name: string, _target: string, _attributes: SetAttributes): Promise<LookupResult> {
    this.record(dirId);
    throw fsError('NOTSUPP', 'S3 has no symbolic links');
  }

  async mknod(dirId: bigint, _name: string, _type: SpecialFileType): Promise<LookupResult> {
    this.record(dirId);
    throw fsError('NOTSUPP', 'S3 has no device nodes, sockets or FIFOs');
  }

  async link(id: bigint, dirId: bigint, _name: string): Promise<void> {
    this.record(id);
    this.record(dirId);
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

  private refuse(id: bigint, what: string): never {
    this.record(id);
    throw fsError('ROFS', `${what}: this export is read-only`);
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
    return fileAttributes(id, resolved.object.size, timeFromDate(resolved.object.lastModified), this.own);
  }
}

/** The kinds of entry a path can be. */
export type { EntryKind };
