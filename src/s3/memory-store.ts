// An in-memory S3 bucket for tests. It follows S3's observable rules closely enough that the
// conformance suite (test/integration/s3) passes against it and against a real server alike:
// UTF-8 byte order in listings, common prefixes that count toward MaxKeys, opaque continuation
// tokens, S3-style ETags (multipart ETags included), clamped ranges, create-only PUTs.
// It also records every call so tests can assert which requests an operation sent.

import { createHash, randomBytes } from 'node:crypto';
import {
  ObjectStoreError,
  sameEtag,
  type CompletedPart,
  type GetRequest,
  type GetResult,
  type ListPage,
  type ListRequest,
  type MultipartUploadInfo,
  type ObjectInfo,
  type ObjectStore,
  type PutRequest,
  type PutResult,
} from './object-store.js';
import { describeGet, describePut, type ObjectStoreApi, type StoreCall } from './store-call.js';

export interface MemoryObjectStoreOptions {
  /**
   * Most keys + common prefixes one LIST page returns, whatever MaxKeys asks for (S3: 1000).
   * Set it small in tests so every caller's paging is exercised.
   */
  pageSize?: number;
  /** Smallest size of every part but the last, checked at CompleteMultipartUpload (S3: 5 MiB). */
  minPartSize?: number;
  /** Clock for lastModified/initiated; S3 reports whole seconds, so the store truncates to them. */
  now?: () => Date;
  /**
   * Whether CompleteMultipartUpload may leave out parts that were uploaded. AWS S3 allows it; Ceph RGW
   * answers InvalidPart. Default false (the stricter server), so code that passes here works on both.
   */
  allowUnlistedParts?: boolean;
}

const S3_MAX_KEYS = 1000;
const S3_MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_NUMBER = 10_000;
const MAX_KEY_BYTES = 1024;

interface StoredObject {
  key: string;
  /** The key's UTF-8 bytes: S3 orders listings by these, not by JS UTF-16 code units. */
  keyBytes: Buffer;
  data: Buffer;
  etag: string;
  lastModified: Date;
}

interface StoredPart {
  data: Buffer;
  etag: string;
}

interface Upload {
  key: string;
  uploadId: string;
  initiated: Date;
  parts: Map<number, StoredPart>;
}

/** Where a listing resumes: after a key, or after every key under a returned common prefix. */
interface ListMarker {
  after: string;
  skipPrefix: boolean;
}

export class MemoryObjectStore implements ObjectStore {
  readonly pageSize: number;
  readonly minPartSize: number;
  readonly allowUnlistedParts: boolean;
  private readonly now: () => Date;
  /** Sorted by keyBytes. */
  private readonly objects: StoredObject[] = [];
  private readonly byKey = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, Upload>();
  private readonly log: StoreCall[] = [];
  private readonly counts = new Map<ObjectStoreApi, number>();

  constructor(options: MemoryObjectStoreOptions = {}) {
    this.pageSize = options.pageSize ?? S3_MAX_KEYS;
    this.minPartSize = options.minPartSize ?? S3_MIN_PART_SIZE;
    this.allowUnlistedParts = options.allowUnlistedParts ?? false;
    this.now = options.now ?? (() => new Date());
    if (!(this.pageSize >= 1)) throw new RangeError('pageSize must be at least 1');
  }

  // ---- test helpers -------------------------------------------------------------------------

  /** Seeds an object without logging a call. */
  putSync(key: string, data: string | Uint8Array, options: { lastModified?: Date } = {}): ObjectInfo {
    const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const obj = this.store(key, body, md5Etag(body), options.lastModified);
    return info(obj);
  }

  /** Removes an object without logging a call; true when it existed. */
  deleteSync(key: string): boolean {
    return this.remove(key);
  }

  /** The object's bytes (a copy), or undefined. */
  getSync(key: string): Buffer | undefined {
    const obj = this.byKey.get(key);
    return obj ? Buffer.from(obj.data) : undefined;
  }

  infoSync(key: string): ObjectInfo | undefined {
    const obj = this.byKey.get(key);
    return obj ? info(obj) : undefined;
  }

  /** All keys in listing order. */
  keys(): string[] {
    return this.objects.map((o) => o.key);
  }

  /** Multipart uploads still in progress (neither completed nor aborted). */
  pendingUploads(): MultipartUploadInfo[] {
    return [...this.uploads.values()].map((u) => ({ key: u.key, uploadId: u.uploadId, initiated: u.initiated }));
  }

  /** Every call since construction or the last clearLog(), oldest first. */
  get calls(): readonly StoreCall[] {
    return this.log;
  }

  /** Calls of one API (all calls when omitted) since construction or the last clearLog(). */
  callCount(api?: ObjectStoreApi): number {
    if (api === undefined) return this.log.length;
    return this.counts.get(api) ?? 0;
  }

  /** The API names of the logged calls, e.g. ['head', 'list']: handy for deepEqual. */
  apiSequence(): ObjectStoreApi[] {
    return this.log.map((c) => c.api);
  }

  clearLog(): void {
    this.log.length = 0;
    this.counts.clear();
  }

  // ---- ObjectStore --------------------------------------------------------------------------

  async checkBucket(): Promise<void> {
    this.record({ api: 'checkBucket' });
  }

  async list(req: ListRequest): Promise<ListPage> {
    this.record({ api: 'list', req: { ...req } });
    const limit = Math.min(req.maxKeys ?? S3_MAX_KEYS, S3_MAX_KEYS, this.pageSize);
    const page: ListPage = { objects: [], prefixes: [] };
    if (limit <= 0) return page;

    const prefix = req.prefix;
    const prefixBytes = utf8(prefix);
    const prefixEnd = successor(prefixBytes);
    const end = prefixEnd ? this.lowerBound(prefixEnd) : this.objects.length;
    let i = this.lowerBound(prefixBytes);
    // A continuation token wins over StartAfter, as in S3.
    const marker = req.continuationToken !== undefined ? decodeToken(req.continuationToken) : undefined;
    let startAfter: Buffer | undefined;
    if (marker) {
      i = Math.max(i, this.resumeIndex(marker));
    } else if (req.startAfter !== undefined) {
      startAfter = utf8(req.startAfter);
      i = Math.max(i, this.upperBound(startAfter));
    }

    const delimiter = req.delimiter === '' ? undefined : req.delimiter;
    let last: ListMarker | undefined;
    let count = 0;
    while (i < end && count < limit) {
      const obj = this.objects[i]!;
      const cut = delimiter === undefined ? -1 : obj.key.indexOf(delimiter, prefix.length);
      if (cut >= 0) {
        const common = obj.key.slice(0, cut + delimiter!.length);
        const skip: ListMarker = { after: common, skipPrefix: true };
        i = this.resumeIndex(skip);
        // Like every entry, a common prefix is listed only if it sorts after StartAfter: a StartAfter
        // inside "b/" skips all of "b/" (observed on Ceph RGW; it also makes V1-style markers work).
        if (startAfter !== undefined && Buffer.compare(utf8(common), startAfter) <= 0) continue;
        page.prefixes.push(common);
        last = skip;
      } else {
        page.objects.push(info(obj));
        last = { after: obj.key, skipPrefix: false };
        i++;
      }
      count++;
    }
    if (i < end && last) page.nextToken = encodeToken(last);
    return page;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.record({ api: 'head', key });
    const obj = this.byKey.get(key);
    return obj ? info(obj) : undefined;
  }

  async get(req: GetRequest): Promise<GetResult> {
    this.record({ api: 'get', req: describeGet(req) });
    req.signal?.throwIfAborted();
    const obj = this.mustExist(req.key);
    if (req.ifMatch !== undefined && !sameEtag(req.ifMatch, obj.etag)) {
      throw preconditionFailed(`GET ${req.key}: ETag is ${obj.etag}, not ${req.ifMatch}`);
    }
    const size = obj.data.length;
    let body: Buffer;
    if (req.range) {
      const { start, end } = checkRange(req.range);
      if (start >= size) {
        throw new ObjectStoreError('InvalidRange', `GET ${req.key}: range starts at ${start}, object has ${size} bytes`, {
          code: 'InvalidRange',
          status: 416,
        });
      }
      body = Buffer.from(obj.data.subarray(start, Math.min(end, size)));
    } else {
      body = Buffer.from(obj.data);
    }
    return { body, etag: obj.etag, size, lastModified: obj.lastModified };
  }

  async put(req: PutRequest): Promise<PutResult> {
    this.record({ api: 'put', req: describePut(req) });
    checkKey(req.key);
    if (req.ifNoneMatch && this.byKey.has(req.key)) {
      throw preconditionFailed(`PUT ${req.key}: the key exists and the PUT was create-only`);
    }
    const body = Buffer.from(req.body);
    return { etag: this.store(req.key, body, md5Etag(body)).etag };
  }

  async delete(key: string): Promise<void> {
    this.record({ api: 'delete', key });
    this.remove(key);
  }

  async copy(sourceKey: string, destKey: string, sourceEtag?: string): Promise<PutResult> {
    const call: StoreCall = { api: 'copy', sourceKey, destKey };
    if (sourceEtag !== undefined) call.sourceEtag = sourceEtag;
    this.record(call);
    checkKey(destKey);
    const src = this.mustExist(sourceKey);
    if (sourceEtag !== undefined && !sameEtag(sourceEtag, src.etag)) {
      throw preconditionFailed(`COPY ${sourceKey}: ETag is ${src.etag}, not ${sourceEtag}`);
    }
    if (sourceKey === destKey) {
      // S3 refuses a copy onto itself unless metadata or storage class change; we never change them.
      throw new ObjectStoreError('Other', `COPY ${sourceKey} onto itself without changing anything`, {
        code: 'InvalidRequest',
        status: 400,
      });
    }
    // A copied object is a fresh single-part object: its ETag is the MD5 of its bytes.
    const data = Buffer.from(src.data);
    return { etag: this.store(destKey, data, md5Etag(data)).etag };
  }

  async createMultipartUpload(key: string): Promise<string> {
    this.record({ api: 'createMultipartUpload', key });
    checkKey(key);
    const uploadId = randomBytes(16).toString('base64url');
    this.uploads.set(uploadId, { key, uploadId, initiated: this.timestamp(), parts: new Map() });
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<CompletedPart> {
    this.record({ api: 'uploadPart', key, uploadId, partNumber, size: body.length });
    const upload = this.mustFindUpload(key, uploadId);
    checkPartNumber(partNumber);
    const data = Buffer.from(body);
    const etag = md5Etag(data);
    upload.parts.set(partNumber, { data, etag });
    return { partNumber, etag };
  }

  async uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    sourceKey: string,
    range: { start: number; end: number },
    sourceEtag?: string,
  ): Promise<CompletedPart> {
    const call: StoreCall = { api: 'uploadPartCopy', key, uploadId, partNumber, sourceKey, range: { ...range } };
    if (sourceEtag !== undefined) call.sourceEtag = sourceEtag;
    this.record(call);
    const upload = this.mustFindUpload(key, uploadId);
    checkPartNumber(partNumber);
    const src = this.mustExist(sourceKey);
    if (sourceEtag !== undefined && !sameEtag(sourceEtag, src.etag)) {
      throw preconditionFailed(`UploadPartCopy from ${sourceKey}: ETag is ${src.etag}, not ${sourceEtag}`);
    }
    const { start, end } = checkRange(range);
    if (end > src.data.length) {
      // Unlike GET, a copy range is not clamped: it must lie inside the source.
      throw new ObjectStoreError(
        'InvalidRange',
        `UploadPartCopy from ${sourceKey}: range ${start}-${end} is outside its ${src.data.length} bytes`,
        { code: 'InvalidRange', status: 416 },
      );
    }
    const data = Buffer.from(src.data.subarray(start, end));
    const etag = md5Etag(data);
    upload.parts.set(partNumber, { data, etag });
    return { partNumber, etag };
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<PutResult> {
    this.record({ api: 'completeMultipartUpload', key, uploadId, parts: parts.map((p) => ({ ...p })) });
    const upload = this.mustFindUpload(key, uploadId);
    if (parts.length === 0) {
      throw new ObjectStoreError('Other', `Complete ${key}: no parts`, { code: 'MalformedXML', status: 400 });
    }
    const chosen: StoredPart[] = [];
    parts.forEach((p, index) => {
      if (index > 0 && p.partNumber <= parts[index - 1]!.partNumber) {
        throw new ObjectStoreError('Other', `Complete ${key}: parts are not in ascending order`, {
          code: 'InvalidPartOrder',
          status: 400,
        });
      }
      const stored = upload.parts.get(p.partNumber);
      if (!stored || !sameEtag(stored.etag, p.etag)) {
        throw new ObjectStoreError('Other', `Complete ${key}: part ${p.partNumber} was not uploaded with ETag ${p.etag}`, {
          code: 'InvalidPart',
          status: 400,
        });
      }
      chosen.push(stored);
    });
    if (!this.allowUnlistedParts && chosen.length < upload.parts.size) {
      const listed = new Set(parts.map((p) => p.partNumber));
      const left = [...upload.parts.keys()].filter((n) => !listed.has(n));
      throw new ObjectStoreError('Other', `Complete ${key}: uploaded part(s) ${left.join(', ')} are left out`, {
        code: 'InvalidPart',
        status: 400,
      });
    }
    chosen.forEach((part, index) => {
      if (index < chosen.length - 1 && part.data.length < this.minPartSize) {
        throw new ObjectStoreError(
          'Other',
          `Complete ${key}: part ${parts[index]!.partNumber} has ${part.data.length} bytes, less than ${this.minPartSize}`,
          { code: 'EntityTooSmall', status: 400 },
        );
      }
    });
    this.uploads.delete(uploadId);
    const data = Buffer.concat(chosen.map((p) => p.data));
    const etag = multipartEtag(chosen.map((p) => p.etag));
    return { etag: this.store(key, data, etag).etag };
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    this.record({ api: 'abortMultipartUpload', key, uploadId });
    this.mustFindUpload(key, uploadId);
    this.uploads.delete(uploadId);
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    this.record({ api: 'listMultipartUploads', prefix });
    return this.pendingUploads()
      .filter((u) => u.key.startsWith(prefix))
      .sort((a, b) => Buffer.compare(utf8(a.key), utf8(b.key)) || a.initiated.getTime() - b.initiated.getTime());
  }

  // ---- internals ----------------------------------------------------------------------------

  private record(call: StoreCall): void {
    this.log.push(call);
    this.counts.set(call.api, (this.counts.get(call.api) ?? 0) + 1);
  }

  private timestamp(): Date {
    const t = this.now().getTime();
    return new Date(t - (((t % 1000) + 1000) % 1000));
  }

  private store(key: string, data: Buffer, etag: string, lastModified?: Date): StoredObject {
    checkKey(key);
    const existing = this.byKey.get(key);
    const when = lastModified ?? this.timestamp();
    if (existing) {
      existing.data = data;
      existing.etag = etag;
      existing.lastModified = when;
      return existing;
    }
    const keyBytes = utf8(key);
    const obj: StoredObject = { key, keyBytes, data, etag, lastModified: when };
    this.objects.splice(this.lowerBound(keyBytes), 0, obj);
    this.byKey.set(key, obj);
    return obj;
  }

  private remove(key: string): boolean {
    const obj = this.byKey.get(key);
    if (!obj) return false;
    this.byKey.delete(key);
    this.objects.splice(this.lowerBound(obj.keyBytes), 1);
    return true;
  }

  private mustExist(key: string): StoredObject {
    const obj = this.byKey.get(key);
    if (!obj) throw new ObjectStoreError('NotFound', `no such key: ${key}`, { code: 'NoSuchKey', status: 404 });
    return obj;
  }

  private mustFindUpload(key: string, uploadId: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) {
      throw new ObjectStoreError('NoSuchUpload', `no multipart upload ${uploadId} for ${key}`, {
        code: 'NoSuchUpload',
        status: 404,
      });
    }
    return upload;
  }

  /** First index whose key is >= bytes. */
  private lowerBound(bytes: Buffer): number {
    let lo = 0;
    let hi = this.objects.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.objects[mid]!.keyBytes, bytes) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose key is > bytes. */
  private upperBound(bytes: Buffer): number {
    let lo = 0;
    let hi = this.objects.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.objects[mid]!.keyBytes, bytes) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private resumeIndex(marker: ListMarker): number {
    const bytes = utf8(marker.after);
    if (!marker.skipPrefix) return this.upperBound(bytes);
    const end = successor(bytes);
    return end ? this.lowerBound(end) : this.objects.length;
  }
}

function info(obj: StoredObject): ObjectInfo {
  return { key: obj.key, size: obj.data.length, etag: obj.etag, lastModified: obj.lastModified };
}

function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** The smallest byte string greater than every string that starts with `bytes`; undefined if none. */
function successor(bytes: Buffer): Buffer | undefined {
  let n = bytes.length;
  while (n > 0 && bytes[n - 1] === 0xff) n--;
  if (n === 0) return undefined;
  const out = Buffer.from(bytes.subarray(0, n));
  out[n - 1]!++;
  return out;
}

function md5Etag(data: Buffer): string {
  return `"${createHash('md5').update(data).digest('hex')}"`;
}

/** S3's multipart ETag: MD5 of the concatenated binary part MD5s, then "-" and the part count. */
export function multipartEtag(partEtags: readonly string[]): string {
  const hash = createHash('md5');
  for (const etag of partEtags) hash.update(Buffer.from(etag.replaceAll('"', ''), 'hex'));
  return `"${hash.digest('hex')}-${partEtags.length}"`;
}

function preconditionFailed(message: string): ObjectStoreError {
  return new ObjectStoreError('PreconditionFailed', message, { code: 'PreconditionFailed', status: 412 });
}

function checkKey(key: string): void {
  const n = Buffer.byteLength(key, 'utf8');
  if (n === 0 || n > MAX_KEY_BYTES) {
    throw new ObjectStoreError('Other', `key must be 1..${MAX_KEY_BYTES} UTF-8 bytes, got ${n}`, {
      code: n === 0 ? 'InvalidArgument' : 'KeyTooLongError',
      status: 400,
    });
  }
}

function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new ObjectStoreError('Other', `part number ${partNumber} is not in 1..${MAX_PART_NUMBER}`, {
      code: 'InvalidArgument',
      status: 400,
    });
  }
}

/** Ranges are caller-built: an empty or negative one is a bug in the caller, not an S3 answer. */
function checkRange(range: { start: number; end: number }): { start: number; end: number } {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
    throw new RangeError(`invalid byte range ${start}-${end}: need 0 <= start < end`);
  }
  return range;
}

function encodeToken(marker: ListMarker): string {
  return Buffer.from(JSON.stringify([marker.skipPrefix ? 'p' : 'k', marker.after]), 'utf8').toString('base64url');
}

function decodeToken(token: string): ListMarker {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && (parsed[0] === 'p' || parsed[0] === 'k') && typeof parsed[1] === 'string') {
      return { after: parsed[1], skipPrefix: parsed[0] === 'p' };
    }
  } catch {
    // fall through: not one of ours
  }
  throw new ObjectStoreError('Other', 'the continuation token is not valid', { code: 'InvalidArgument', status: 400 });
}
