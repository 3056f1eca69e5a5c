// The seam between the file system and S3. Everything above this talks to an ObjectStore;
// the AWS SDK implementation, the in-memory one and the fault-injecting wrapper live beside it.

/** One object as a listing or HEAD reports it. */
export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** With a delimiter: the common prefixes, each ending in the delimiter. */
  prefixes: string[];
  /** Present when there are more results: pass as `continuationToken`. */
  nextToken?: string;
}

export interface ListRequest {
  prefix: string;
  delimiter?: string;
  maxKeys?: number;
  continuationToken?: string;
  /** Start listing after this key (ListObjectsV2 StartAfter). */
  startAfter?: string;
}

export interface GetRequest {
  key: string;
  /**
   * Inclusive start, exclusive end; omitted means the whole object. Must be non-empty (end > start).
   * An end past the object is clamped (as S3 does); a start at or past the end is InvalidRange.
   */
  range?: { start: number; end: number };
  /** If set, the GET fails with a PreconditionFailed error when the object's ETag differs. */
  ifMatch?: string;
  /** Aborting rejects the GET with an error named 'AbortError' (not an ObjectStoreError). */
  signal?: AbortSignal;
  /**
   * Called (by stores that can) once the response headers arrived, with the body as it fills in, so a
   * caller may use its first bytes before the last arrive. Called again if the store retries the GET.
   */
  onArriving?: (body: ArrivingBody) => void;
}

/** A GET body while it arrives: bytes [0, received()) of `data` are final and never change. */
export interface ArrivingBody {
  /** The whole body's buffer (the same one get() resolves with, when it does). */
  readonly data: Buffer;
  readonly etag: string;
  received(): number;
  /** Resolves once at least `n` bytes arrived; rejects if the body fails first. */
  whenReceived(n: number): Promise<void>;
}

export interface GetResult {
  body: Buffer;
  etag: string;
  /** Size of the whole object. */
  size: number;
  lastModified: Date;
}

export interface PutRequest {
  key: string;
  body: Buffer;
  /** Create-only: fail with PreconditionFailed if the key exists. */
  ifNoneMatch?: boolean;
}

export interface PutResult {
  etag: string;
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export interface MultipartUploadInfo {
  key: string;
  uploadId: string;
  initiated: Date;
}

/** Errors an ObjectStore raises, by kind, so callers never parse SDK errors. */
export type ObjectStoreErrorKind =
  | 'NotFound'
  | 'PreconditionFailed'
  | 'AccessDenied'
  | 'NoSuchBucket'
  | 'NoSuchUpload'
  | 'InvalidRange'
  | 'Throttled'
  | 'Unavailable'
  | 'Other';

export class ObjectStoreError extends Error {
  /** The S3 error code when the server sent one (e.g. 'EntityTooSmall', 'InvalidPart'). */
  readonly code?: string;
  /** The HTTP status when there was a response. */
  readonly status?: number;

  constructor(
    readonly kind: ObjectStoreErrorKind,
    message: string,
    options?: { cause?: unknown; code?: string; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ObjectStoreError';
    if (options?.code !== undefined) this.code = options.code;
    if (options?.status !== undefined) this.status = options.status;
  }
}

/** True for an ObjectStoreError of the given kind (any kind when omitted). */
export function isObjectStoreError(err: unknown, kind?: ObjectStoreErrorKind): err is ObjectStoreError {
  return err instanceof ObjectStoreError && (kind === undefined || err.kind === kind);
}

/** ETags compare without their quotes: S3 quotes them, some callers and servers do not. */
export function sameEtag(a: string, b: string): boolean {
  return unquoteEtag(a) === unquoteEtag(b);
}

export function unquoteEtag(etag: string): string {
  return etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}

/** A memory budget as a store sees it (the read path's MemoryBudget has this shape). */
export interface MemoryAccount {
  tryReserve(bytes: number): { release(): void } | undefined;
  /** Registers a function asked to free `bytes` under pressure; returns its unregistration. */
  addReclaimer(reclaimer: (bytes: number) => void): () => void;
}

export interface ObjectStore {
  /** Checks the bucket exists and is reachable; throws ObjectStoreError otherwise. */
  checkBucket(): Promise<void>;
  list(req: ListRequest): Promise<ListPage>;
  /** HEAD; resolves `undefined` when the key does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  get(req: GetRequest): Promise<GetResult>;
  /**
   * The caller is done with a body get() returned, and nothing reads it any more: the store may reuse
   * its memory. Optional for both sides: a body never handed back is just garbage-collected.
   */
  recycle?(body: Buffer): void;
  /**
   * Bodies kept for reuse count against `account` from now on (and its reclaim lets them go), so they
   * share the caller's memory budget instead of adding to it. Optional, like recycle.
   */
  holdRecycledIn?(account: MemoryAccount): void;
  put(req: PutRequest): Promise<PutResult>;
  /** Deleting a missing key succeeds, as in S3. */
  delete(key: string): Promise<void>;
  /** Server-side copy of a whole object; PreconditionFailed when `sourceEtag` no longer matches. */
  copy(sourceKey: string, destKey: string, sourceEtag?: string): Promise<PutResult>;

  createMultipartUpload(key: string): Promise<string>;
  /**
   * `bodySha256` (hex), when the caller already hashed the body, is sent as the signed payload hash
   * so the SDK does not hash the part a second time.
   */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, bodySha256?: string): Promise<CompletedPart>;
  /** Copies a byte range of an existing object into a part (UploadPartCopy). */
  uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    sourceKey: string,
    range: { start: number; end: number },
    sourceEtag?: string,
  ): Promise<CompletedPart>;
  completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<PutResult>;
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
  listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]>;
}
