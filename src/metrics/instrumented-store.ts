// An ObjectStore that counts and times every call it passes on (s3nfs_s3_* metrics), and counts the
// object bytes that crossed the network. It changes nothing else: results and errors pass through.

import type {
  CompletedPart,
  GetRequest,
  GetResult,
  ListPage,
  ListRequest,
  MemoryAccount,
  MultipartUploadInfo,
  ObjectInfo,
  ObjectStore,
  PutRequest,
  PutResult,
} from '../s3/object-store.js';
import type { ObjectStoreApi } from '../s3/store-call.js';
import type { CounterChild } from './registry.js';
import type { S3ApiMetrics, S3nfsMetrics } from './s3nfs-metrics.js';

export class InstrumentedObjectStore implements ObjectStore {
  private readonly apis: Readonly<Record<ObjectStoreApi, S3ApiMetrics>>;
  private readonly downloaded: CounterChild;
  private readonly uploaded: CounterChild;
  private readonly copied: CounterChild;

  constructor(
    readonly inner: ObjectStore,
    metrics: S3nfsMetrics,
  ) {
    const api = (a: ObjectStoreApi) => metrics.s3Api(a);
    this.apis = {
      checkBucket: api('checkBucket'),
      list: api('list'),
      head: api('head'),
      get: api('get'),
      put: api('put'),
      delete: api('delete'),
      copy: api('copy'),
      createMultipartUpload: api('createMultipartUpload'),
      uploadPart: api('uploadPart'),
      uploadPartCopy: api('uploadPartCopy'),
      completeMultipartUpload: api('completeMultipartUpload'),
      abortMultipartUpload: api('abortMultipartUpload'),
      listMultipartUploads: api('listMultipartUploads'),
    };
    this.downloaded = metrics.s3DownloadedBytes.labels({});
    this.uploaded = metrics.s3UploadedBytes.labels({});
    this.copied = metrics.s3CopiedBytes.labels({});
  }

  checkBucket(): Promise<void> {
    return this.timed(this.apis.checkBucket, () => this.inner.checkBucket());
  }

  list(req: ListRequest): Promise<ListPage> {
    return this.timed(this.apis.list, () => this.inner.list(req));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.timed(this.apis.head, () => this.inner.head(key));
  }

  async get(req: GetRequest): Promise<GetResult> {
    const result = await this.timed(this.apis.get, () => this.inner.get(req));
    this.downloaded.inc(result.body.length);
    return result;
  }

  recycle(body: Buffer): void {
    this.inner.recycle?.(body);
  }

  holdRecycledIn(account: MemoryAccount): void {
    this.inner.holdRecycledIn?.(account);
  }

  async put(req: PutRequest): Promise<PutResult> {
    const result = await this.timed(this.apis.put, () => this.inner.put(req));
    this.uploaded.inc(req.body.length);
    return result;
  }

  delete(key: string): Promise<void> {
    return this.timed(this.apis.delete, () => this.inner.delete(key));
  }

  copy(sourceKey: string, destKey: string, sourceEtag?: string): Promise<PutResult> {
    return this.timed(this.apis.copy, () => this.inner.copy(sourceKey, destKey, sourceEtag));
  }

  createMultipartUpload(key: string): Promise<string> {
    return this.timed(this.apis.createMultipartUpload, () => this.inner.createMultipartUpload(key));
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, bodySha256?: string): Promise<CompletedPart> {
    const part = await this.timed(this.apis.uploadPart, () =>
      this.inner.uploadPart(key, uploadId, partNumber, body, bodySha256),
    );
    this.uploaded.inc(body.length);
    return part;
  }

  async uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    sourceKey: string,
    range: { start: number; end: number },
    sourceEtag?: string,
  ): Promise<CompletedPart> {
    const part = await this.timed(this.apis.uploadPartCopy, () =>
      this.inner.uploadPartCopy(key, uploadId, partNumber, sourceKey, range, sourceEtag),
    );
    this.copied.inc(range.end - range.start);
    return part;
  }

  completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<PutResult> {
    return this.timed(this.apis.completeMultipartUpload, () =>
      this.inner.completeMultipartUpload(key, uploadId, parts),
    );
  }

  abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    return this.timed(this.apis.abortMultipartUpload, () => this.inner.abortMultipartUpload(key, uploadId));
  }

  listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    return this.timed(this.apis.listMultipartUploads, () => this.inner.listMultipartUploads(prefix));
  }

  private async timed<T>(m: S3ApiMetrics, send: () => Promise<T>): Promise<T> {
    const start = m.begin();
    let result: T;
    try {
      result = await send();
    } catch (err) {
      m.failed(start, err);
      throw err;
    }
    m.succeeded(start);
    return result;
  }
}
