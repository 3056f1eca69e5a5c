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
  /** Inclusive start, exclusive end; omitted means the whole object. */
  range?: { start: number; end: number };
  /** If set, the GET fails with a PreconditionFailed error when the object's ETag differs. */
  ifMatch?: string;
  signal?: AbortSignal;
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
  constructor(
    readonly kind: ObjectStoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ObjectStoreError';
  }
}

export interface ObjectStore {
  /** Checks the bucket exists and is reachable; throws ObjectStoreError otherwise. */
  checkBucket(): Promise<void>;
  list(req: ListRequest): Promise<ListPage>;
  /** HEAD; resolves `undefined` when the key does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  get(req: GetRequest): Promise<GetResult>;
  put(req: PutRequest): Promise<PutResult>;
  delete(key: string): Promise<void>;
  /** Server-side copy of a whole object. */
  copy(sourceKey: string, destKey: string, sourceEtag?: string): Promise<PutResult>;

  createMultipartUpload(key: string): Promise<string>;
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<CompletedPart>;
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
