// The real ObjectStore: AWS SDK for JavaScript v3 against AWS S3 or any S3-compatible server.
// What it adds to the SDK: one keep-alive agent sized for parallel ranged GETs, bodies read straight
// into one preallocated Buffer (and re-fetched with If-Match when a connection dies mid-body),
// listings with URL-encoded keys (so control characters survive XML), S3 errors mapped to
// ObjectStoreError kinds, and workarounds for servers that stray from S3 (Ceph RGW: empty ETag
// from CompleteMultipartUpload).

import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandInput,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3ClientConfig,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { NoAuthSigner } from '@smithy/core';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DirectGetHandler, ReceivedBody } from './direct-get.js';
import { GetShortcut, type ShortcutGet } from './get-shortcut.js';
import { HttpRequest } from '@smithy/core/transport';
import { silentLogger, type LogSink } from '../log/logger.js';
import { BodyPool } from './body-pool.js';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, FinalizeHandler, FinalizeHandlerArguments } from '@smithy/types';
import {
  ObjectStoreError,
  sameEtag,
  type CompletedPart,
  type GetRequest,
  type GetResult,
  type ListPage,
  type ListRequest,
  type MemoryAccount,
  type MultipartUploadInfo,
  type ObjectInfo,
  type ObjectStore,
  type ObjectStoreErrorKind,
  type PutRequest,
  type PutResult,
} from './object-store.js';

export interface SdkObjectStoreOptions {
  bucket: string;
  /** Defaults to the SDK's region chain (AWS_REGION, profile); 'us-east-1' for a custom endpoint. */
  region?: string;
  /** A custom S3 endpoint, e.g. http://127.0.0.1:7480. Implies path-style addressing unless told otherwise. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Named profile for the default credential chain. */
  profile?: string;
  /** Explicit credentials, overriding the default chain (tests, embedding). */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Send unsigned requests (public buckets). */
  noSignRequest?: boolean;
  /** Send x-amz-request-payer: requester. */
  requesterPays?: boolean;
  /** Send x-amz-expected-bucket-owner (and the source-owner header on copies). */
  expectedBucketOwner?: string;
  storageClass?: StorageClass;
  sse?: ServerSideEncryption;
  sseKmsKeyId?: string;
  /**
   * Compute and send checksums on uploads and validate them on downloads. Off by default: many
   * S3-compatible servers reject the SDK's streaming checksum framing (Ceph 411, Swift 501).
   */
  uploadChecksums?: boolean;
  /** Total tries per request, the first included. Default 5. */
  maxAttempts?: number;
  /**
   * Before a copy conditioned on the source ETag, check that ETag with a HEAD too. Default true:
   * Ceph RGW (16.2) ignores x-amz-copy-source-if-match. AWS S3 enforces it, so this can be off there.
   */
  headBeforeConditionalCopy?: boolean;
  /** Sockets per agent; parallel ranged GETs need many. Default 64. */
  maxSockets?: number;
  /** Connect timeout in ms. Default 10 s. */
  connectTimeoutMs?: number;
  /** A connection that sends nothing for this long is given up (and the request retried). Default 30 s. */
  idleTimeoutMs?: number;
  /**
   * Receive GetObject bodies with DirectGetHandler (straight into one buffer) instead of the SDK's
   * stream. Default true; off only to compare the two.
   */
  directGet?: boolean;
  /**
   * Send ranged GETs without the SDK's middleware once it has sent one (GetShortcut). Default true;
   * needs directGet and signed requests.
   */
  getShortcut?: boolean;
  /** Where the store reports what it decided (the shortcut's state). */
  log?: LogSink;
}

const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_MAX_SOCKETS = 64;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/**
 * Free body buffers kept for reuse (let go after 10 s unused): a read-ahead window's worth (128 MiB) and
 * a few parts, so the next file's reader finds them. Without a memory account (holdRecycledIn) a quarter
 * of that, since nothing else then counts them.
 */
const ACCOUNTED_BODY_POOL_BYTES = 160 * 1024 * 1024;
const BODY_POOL_BYTES = 40 * 1024 * 1024;

export class SdkObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly options: SdkObjectStoreOptions;
  private readonly maxAttempts: number;
  /** Buffers GetObject bodies are received into, reused once the read path hands them back. */
  private readonly bodies = new BodyPool({ maxFreeBytes: BODY_POOL_BYTES });
  private readonly idleTimeoutMs: number;
  private readonly shortcut: GetShortcut | undefined;
  /** Headers every request of the bucket carries (requester pays, expected owner). */
  private readonly common: { RequestPayer?: 'requester'; ExpectedBucketOwner?: string };
  /** Settings for requests that create objects. */
  private readonly creation: {
    StorageClass?: StorageClass;
    ServerSideEncryption?: ServerSideEncryption;
    SSEKMSKeyId?: string;
  };

  constructor(options: SdkObjectStoreOptions) {
    this.options = options;
    this.bucket = options.bucket;
    this.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets }),
      https: new https.Agent({ keepAlive: true, maxSockets }),
    };
    const config: S3ClientConfig = {
      maxAttempts: this.maxAttempts,
      retryMode: 'standard', // exponential backoff with full jitter; longer waits when throttled
      requestChecksumCalculation: options.uploadChecksums ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
      responseChecksumValidation: options.uploadChecksums ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
    };
    if (options.endpoint !== undefined) {
      config.endpoint = options.endpoint;
      config.forcePathStyle = options.forcePathStyle ?? true;
      config.region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    } else {
      if (options.region !== undefined) config.region = options.region;
      if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
      config.followRegionRedirects = true;
    }
    if (options.profile !== undefined) config.profile = options.profile;
    if (options.credentials !== undefined) config.credentials = options.credentials;
    if (options.noSignRequest) {
      config.httpAuthSchemes = [
        { schemeId: 'smithy.api#noAuth', identityProvider: () => async () => ({}), signer: new NoAuthSigner() },
      ];
      config.httpAuthSchemeProvider = () => [{ schemeId: 'smithy.api#noAuth' }];
    }
    const handler = this.requestHandler(maxSockets);
    config.requestHandler = handler;
    this.client = new S3Client(config);

    this.common = {};
    if (options.requesterPays) this.common.RequestPayer = 'requester';
    if (options.expectedBucketOwner !== undefined) this.common.ExpectedBucketOwner = options.expectedBucketOwner;
    this.creation = {};
    if (options.storageClass !== undefined) this.creation.StorageClass = options.storageClass;
    if (options.sse !== undefined) this.creation.ServerSideEncryption = options.sse;
    if (options.sseKmsKeyId !== undefined) this.creation.SSEKMSKeyId = options.sseKmsKeyId;

    if (handler instanceof DirectGetHandler && options.getShortcut !== false && !options.noSignRequest) {
      const fixedHeaders: Record<string, string> = {};
      if (options.requesterPays) fixedHeaders['x-amz-request-payer'] = 'requester';
      if (options.expectedBucketOwner !== undefined) fixedHeaders['x-amz-expected-bucket-owner'] = options.expectedBucketOwner;
      const clientConfig = this.client.config as { credentials: () => Promise<AwsCredentialIdentity>; systemClockOffset?: number };
      this.shortcut = new GetShortcut({
        send: (request, opts) => handler.handle(request, opts),
        credentials: () => clientConfig.credentials(),
        clockOffsetMs: () => clientConfig.systemClockOffset ?? 0,
        fixedHeaders,
        log: options.log ?? silentLogger,
      });
    }
  }

  /** Closes pooled connections. The store must not be used afterwards. */
  private requestHandler(maxSockets: number): NodeHttpHandler | DirectGetHandler {
    const connectTimeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const sdkHandler = new NodeHttpHandler({
      httpAgent: this.agents.http,
      httpsAgent: this.agents.https,
      connectionTimeout: connectTimeoutMs,
      socketTimeout: this.idleTimeoutMs,
    });
    if (this.options.directGet === false) return sdkHandler;
    return new DirectGetHandler({
      fallback: sdkHandler,
      maxSockets,
      connectTimeoutMs,
      idleTimeoutMs: this.idleTimeoutMs,
      allocateBody: (length) => this.bodies.take(length),
    });
  }

  /** Ranged GETs sent without the SDK's middleware so far (GetShortcut). */
  get shortcutGets(): number {
    return this.shortcut?.answered ?? 0;
  }

  recycle(body: Buffer): void {
    this.bodies.give(body);
  }

  holdRecycledIn(account: MemoryAccount): void {
    this.bodies.holdIn(account, ACCOUNTED_BODY_POOL_BYTES);
  }

  destroy(): void {
    this.bodies.clear();
    this.client.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  async checkBucket(): Promise<void> {
    const where = `bucket "${this.bucket}" at ${this.options.endpoint ?? `AWS S3 (region ${this.options.region ?? 'from the environment'})`}`;
    try {
      const req: { Bucket: string; ExpectedBucketOwner?: string } = { Bucket: this.bucket };
      if (this.common.ExpectedBucketOwner !== undefined) req.ExpectedBucketOwner = this.common.ExpectedBucketOwner;
      await this.client.send(new HeadBucketCommand(req));
    } catch (err) {
      const mapped = toObjectStoreError(err, `HeadBucket ${this.bucket}`);
      // HEAD answers have no body, so the SDK only knows the status: name the likely cause.
      const reason: Record<ObjectStoreErrorKind, string> = {
        NotFound: 'does not exist',
        NoSuchBucket: 'does not exist',
        AccessDenied: 'is not accessible with these credentials (403)',
        PreconditionFailed: 'answered 412',
        NoSuchUpload: 'answered NoSuchUpload',
        InvalidRange: 'answered 416',
        Throttled: 'is throttling requests',
        Unavailable: 'cannot be reached',
        Other: 'answered an error',
      };
      const kind = mapped.kind === 'NotFound' ? 'NoSuchBucket' : mapped.kind;
      throw new ObjectStoreError(kind, `${where} ${reason[mapped.kind]}: ${mapped.message}`, {
        cause: err,
        ...codeAndStatus(mapped),
      });
    }
  }

  async list(req: ListRequest): Promise<ListPage> {
    const out = await this.call(`ListObjectsV2 ${JSON.stringify(req.prefix)}`, () =>
      this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: req.prefix,
          Delimiter: req.delimiter,
          MaxKeys: req.maxKeys,
          ContinuationToken: req.continuationToken,
          StartAfter: req.startAfter,
          // XML 1.0 cannot carry control characters: ask for URL-encoded keys and decode them.
          EncodingType: 'url',
          ...this.common,
        }),
      ),
    );
    const encoded = out.EncodingType === 'url';
    const decode = (s: string) => (encoded ? decodeListingValue(s) : s);
    const page: ListPage = {
      objects: (out.Contents ?? []).map((o) => ({
        key: decode(required(o.Key, 'Key')),
        size: o.Size ?? 0,
        etag: quoteEtag(o.ETag ?? ''),
        lastModified: o.LastModified ?? new Date(0),
      })),
      prefixes: (out.CommonPrefixes ?? []).map((p) => decode(required(p.Prefix, 'Prefix'))),
    };
    if (out.IsTruncated && out.NextContinuationToken) page.nextToken = out.NextContinuationToken;
    return page;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ...this.common }));
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: quoteEtag(out.ETag ?? ''),
        lastModified: out.LastModified ?? new Date(0),
      };
    } catch (err) {
      const mapped = toObjectStoreError(err, `HeadObject ${JSON.stringify(key)}`);
      if (mapped.kind === 'NotFound') return undefined;
      throw mapped;
    }
  }

  async get(req: GetRequest): Promise<GetResult> {
    const what = `GetObject ${JSON.stringify(req.key)}`;
    if (req.range) checkRange(req.range);
    let ifMatch = req.ifMatch;
    // The SDK retries until response headers arrive; a body cut off later is retried here, pinned
    // with If-Match to the version whose first bytes we saw, so two versions never mix.
    const range = req.range ? `bytes=${req.range.start}-${req.range.end - 1}` : undefined;
    for (let attempt = 1; ; attempt++) {
      req.signal?.throwIfAborted();
      const out =
        (await this.shortcutGet(req.key, range, ifMatch, req.signal)) ??
        (await this.call(what, () => {
          const command = new GetObjectCommand({ Bucket: this.bucket, Key: req.key, Range: range, IfMatch: ifMatch, ...this.common });
          if (this.shortcut?.learning) teachShortcut(command, this.shortcut, req.key);
          return this.client.send(command, req.signal ? { abortSignal: req.signal } : {});
        }));
      const etag = quoteEtag(out.ETag ?? '');
      const size = totalSize(out.ContentRange) ?? out.ContentLength ?? 0;
      const lastModified = out.LastModified ?? new Date(0);
      const arriving = out.Body;
      if (req.onArriving && arriving instanceof ReceivedBody && (req.range === undefined || out.ContentRange !== undefined)) {
        req.onArriving({
          data: arriving.buffer,
          etag,
          received: () => arriving.received,
          whenReceived: (n) => arriving.whenReceived(n),
        });
      }
      try {
        let body = await readBody(out.Body, out.ContentLength, this.idleTimeoutMs, req.signal);
        if (req.range && out.ContentRange === undefined) {
          // A server that ignored Range sent the whole object: cut the range out ourselves.
          body = body.subarray(req.range.start, Math.min(req.range.end, body.length));
        }
        return { body, etag, size, lastModified };
      } catch (err) {
        if (isAbort(err) || req.signal?.aborted) throw err;
        if (attempt >= this.maxAttempts) {
          throw new ObjectStoreError('Unavailable', `${what}: the body was cut off ${attempt} times`, { cause: err });
        }
        ifMatch = etag || ifMatch;
        await backoff(attempt, req.signal);
      }
    }
  }

  async put(req: PutRequest): Promise<PutResult> {
    const out = await this.call(`PutObject ${JSON.stringify(req.key)}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: req.key,
          Body: req.body,
          ContentLength: req.body.length,
          IfNoneMatch: req.ifNoneMatch ? '*' : undefined,
          ...this.creation,
          ...this.common,
        }),
      ),
    );
    return { etag: await this.etagOrHead(out.ETag, req.key) };
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, ...this.common }));
    } catch (err) {
      const mapped = toObjectStoreError(err, `DeleteObject ${JSON.stringify(key)}`);
      // S3 answers 204 for a missing key; some servers say 404. Both mean "gone".
      if (mapped.kind !== 'NotFound') throw mapped;
    }
  }

  async copy(sourceKey: string, destKey: string, sourceEtag?: string): Promise<PutResult> {
    if (sourceEtag !== undefined) await this.checkSourceEtag('CopyObject', sourceKey, sourceEtag);
    const out = await this.call(`CopyObject ${JSON.stringify(sourceKey)} to ${JSON.stringify(destKey)}`, () =>
      this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: destKey,
          CopySource: this.copySource(sourceKey),
          CopySourceIfMatch: sourceEtag,
          ...this.creation,
          ...this.common,
          ...this.sourceOwner(),
        }),
      ),
    );
    return { etag: await this.etagOrHead(out.CopyObjectResult?.ETag, destKey) };
  }

  async createMultipartUpload(key: string): Promise<string> {
    const out = await this.call(`CreateMultipartUpload ${JSON.stringify(key)}`, () =>
      this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...this.creation, ...this.common }),
      ),
    );
    return required(out.UploadId, 'UploadId');
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, bodySha256?: string): Promise<CompletedPart> {
    const out = await this.call(`UploadPart ${partNumber} of ${JSON.stringify(key)}`, () => {
      const command = new UploadPartCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
        ...this.common,
      });
      if (bodySha256 !== undefined) withPayloadHash(command, bodySha256);
      return this.client.send(command);
    });
    return { partNumber, etag: quoteEtag(required(out.ETag, 'ETag')) };
  }

  async uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    sourceKey: string,
    range: { start: number; end: number },
    sourceEtag?: string,
  ): Promise<CompletedPart> {
    checkRange(range);
    if (sourceEtag !== undefined) await this.checkSourceEtag('UploadPartCopy', sourceKey, sourceEtag);
    const out = await this.call(`UploadPartCopy ${partNumber} of ${JSON.stringify(key)} from ${JSON.stringify(sourceKey)}`, () =>
      this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: this.copySource(sourceKey),
          CopySourceRange: `bytes=${range.start}-${range.end - 1}`,
          CopySourceIfMatch: sourceEtag,
          ...this.common,
          ...this.sourceOwner(),
        }),
      ),
    );
    return { partNumber, etag: quoteEtag(required(out.CopyPartResult?.ETag, 'ETag')) };
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<PutResult> {
    const what = `CompleteMultipartUpload ${JSON.stringify(key)}`;
    const out = await this.call(what, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          ...this.common,
        }),
      ),
    ).catch(async (err: unknown) => {
      // Ceph RGW answers 500 ("completion is already in progress") for an aborted upload: ask ListParts
      // whether the upload still exists, so the caller sees NoSuchUpload as on S3.
      if (err instanceof ObjectStoreError && err.kind === 'Unavailable' && !(await this.uploadExists(key, uploadId))) {
        throw new ObjectStoreError('NoSuchUpload', `${what}: the upload ${uploadId} no longer exists`, {
          cause: err,
          code: 'NoSuchUpload',
          status: 404,
        });
      }
      throw err;
    });
    return { etag: await this.etagOrHead(out.ETag, key) };
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.call(`AbortMultipartUpload ${JSON.stringify(key)}`, () =>
      this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, ...this.common }),
      ),
    );
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    const uploads: MultipartUploadInfo[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const out = await this.call(`ListMultipartUploads ${JSON.stringify(prefix)}`, () =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
            // No EncodingType here: Ceph RGW encodes the keys but does not say so in its answer.
            ...(this.common.ExpectedBucketOwner !== undefined
              ? { ExpectedBucketOwner: this.common.ExpectedBucketOwner }
              : {}),
            ...(this.common.RequestPayer !== undefined ? { RequestPayer: this.common.RequestPayer } : {}),
          }),
        ),
      );
      for (const u of out.Uploads ?? []) {
        uploads.push({
          key: required(u.Key, 'Key'),
          uploadId: required(u.UploadId, 'UploadId'),
          initiated: u.Initiated ?? new Date(0),
        });
      }
      if (!out.IsTruncated) return uploads;
      keyMarker = out.NextKeyMarker;
      uploadIdMarker = out.NextUploadIdMarker;
      if (keyMarker === undefined && uploadIdMarker === undefined) return uploads;
    }
  }

  // ---- internals ----------------------------------------------------------------------------

  /** A GET sent by the shortcut, in the SDK's output shape; undefined when the SDK must send it. */
  private async shortcutGet(
    key: string,
    range: string | undefined,
    ifMatch: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<GetOutput | undefined> {
    if (!this.shortcut?.ready) return undefined;
    const req: ShortcutGet = { key };
    if (range !== undefined) req.range = range;
    if (ifMatch !== undefined) req.ifMatch = ifMatch;
    if (signal) req.signal = signal;
    const response = await this.shortcut.get(req);
    if (!response) return undefined;
    const h = response.headers;
    const out: GetOutput = {
      Body: response.body,
    };
    if (h['etag'] !== undefined) out.ETag = h['etag'];
    if (h['content-range'] !== undefined) out.ContentRange = h['content-range'];
    if (h['content-length'] !== undefined) out.ContentLength = Number(h['content-length']);
    if (h['last-modified'] !== undefined) {
      const date = new Date(h['last-modified']);
      if (!Number.isNaN(date.getTime())) out.LastModified = date;
    }
    return out;
  }


  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (isAbort(err)) throw err;
      throw toObjectStoreError(err, what);
    }
  }

  /** CompleteMultipartUpload on Ceph RGW answers an empty ETag: ask HEAD for it. */
  private async etagOrHead(etag: string | undefined, key: string): Promise<string> {
    if (etag) return quoteEtag(etag);
    const info = await this.head(key);
    if (!info) throw new ObjectStoreError('NotFound', `${JSON.stringify(key)} vanished right after it was written`);
    return info.etag;
  }

  /** False only when the server says the upload is gone (S3: NoSuchUpload; Ceph RGW: NoSuchKey). */
  private async uploadExists(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.client.send(
        new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MaxParts: 1, ...this.common }),
      );
      return true;
    } catch (err) {
      const kind = toObjectStoreError(err, 'ListParts').kind;
      return kind !== 'NoSuchUpload' && kind !== 'NotFound';
    }
  }

  /** The HEAD half of a conditional copy (see headBeforeConditionalCopy); the header half is still sent. */
  private async checkSourceEtag(what: string, sourceKey: string, sourceEtag: string): Promise<void> {
    if (this.options.headBeforeConditionalCopy === false) return;
    const info = await this.head(sourceKey);
    if (!info) {
      throw new ObjectStoreError('NotFound', `${what} from ${JSON.stringify(sourceKey)}: no such key`, {
        code: 'NoSuchKey',
        status: 404,
      });
    }
    if (!sameEtag(info.etag, sourceEtag)) {
      throw new ObjectStoreError(
        'PreconditionFailed',
        `${what} from ${JSON.stringify(sourceKey)}: ETag is ${info.etag}, not ${sourceEtag}`,
        { code: 'PreconditionFailed', status: 412 },
      );
    }
  }

  private copySource(key: string): string {
    // The header is "bucket/key", URL-encoded; slashes may stay as they are.
    return `${this.bucket}/${encodeURIComponent(key).replaceAll('%2F', '/')}`;
  }

  private sourceOwner(): { ExpectedSourceBucketOwner?: string } {
    const owner = this.options.expectedBucketOwner;
    return owner === undefined ? {} : { ExpectedSourceBucketOwner: owner };
  }
}

// ---- errors -----------------------------------------------------------------------------------

interface ErrorFacts {
  name: string;
  message: string;
  status?: number;
  code?: string;
}

function facts(err: unknown): ErrorFacts {
  if (typeof err !== 'object' || err === null) return { name: 'Error', message: String(err) };
  const record = err as Record<string, unknown>;
  const out: ErrorFacts = {
    name: typeof record.name === 'string' ? record.name : 'Error',
    message: typeof record.message === 'string' ? record.message : String(err),
  };
  const meta = record.$metadata;
  if (typeof meta === 'object' && meta !== null) {
    const status = (meta as Record<string, unknown>).httpStatusCode;
    if (typeof status === 'number') out.status = status;
  }
  const code = typeof record.Code === 'string' ? record.Code : typeof record.code === 'string' ? record.code : undefined;
  if (code !== undefined) out.code = code;
  return out;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const THROTTLING_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests']);
const ACCESS_CODES = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'AllAccessDisabled',
  'CredentialsProviderError',
]);

/** Maps anything the SDK throws to an ObjectStoreError; `what` names the request for the message. */
export function toObjectStoreError(err: unknown, what: string): ObjectStoreError {
  if (err instanceof ObjectStoreError) return err;
  const f = facts(err);
  const s3Code = f.name !== 'Error' && f.name !== 'TypeError' ? f.name : f.code;
  const kind = classify(f, s3Code);
  const detail = [s3Code, f.status === undefined ? undefined : `HTTP ${f.status}`].filter(Boolean).join(', ');
  const options: { cause: unknown; code?: string; status?: number } = { cause: err };
  if (s3Code !== undefined) options.code = s3Code;
  if (f.status !== undefined) options.status = f.status;
  return new ObjectStoreError(kind, `${what}: ${f.message}${detail ? ` (${detail})` : ''}`, options);
}

function classify(f: ErrorFacts, code: string | undefined): ObjectStoreErrorKind {
  switch (code) {
    case 'NoSuchKey':
    case 'NotFound':
      return 'NotFound';
    case 'NoSuchBucket':
      return 'NoSuchBucket';
    case 'NoSuchUpload':
      return 'NoSuchUpload';
    case 'PreconditionFailed':
      return 'PreconditionFailed';
    case 'InvalidRange':
      return 'InvalidRange';
  }
  if (code !== undefined && THROTTLING_CODES.has(code)) return 'Throttled';
  if (code !== undefined && ACCESS_CODES.has(code)) return 'AccessDenied';
  switch (f.status) {
    case 404:
      return 'NotFound';
    case 412:
      return 'PreconditionFailed';
    case 403:
      return 'AccessDenied';
    case 416:
      return 'InvalidRange';
    case 429:
      return 'Throttled';
  }
  if (f.status !== undefined && f.status >= 500) return f.status === 503 ? 'Throttled' : 'Unavailable';
  if (f.status === undefined) {
    if ((f.code !== undefined && NETWORK_CODES.has(f.code)) || f.name === 'TimeoutError' || f.name === 'RequestTimeout') {
      return 'Unavailable';
    }
  }
  return 'Other';
}

function codeAndStatus(err: ObjectStoreError): { code?: string; status?: number } {
  const out: { code?: string; status?: number } = {};
  if (err.code !== undefined) out.code = err.code;
  if (err.status !== undefined) out.status = err.status;
  return out;
}

function isAbort(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

// ---- bodies -----------------------------------------------------------------------------------

/**
 * Reads a response body into one Buffer: preallocated from Content-Length, each chunk copied once
 * (a body that arrives as one chunk is returned as is). A connection silent for `idleMs` fails.
 */
export async function readBody(
  body: unknown,
  contentLength: number | undefined,
  idleMs: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  if (body === undefined || body === null) {
    if (contentLength) throw new Error(`no body, expected ${contentLength} bytes`);
    return Buffer.alloc(0);
  }
  if (body instanceof ReceivedBody) {
    // DirectGetHandler fills one buffer; its socket's own idle timeout and the abort signal end it early.
    if (contentLength !== undefined && body.length !== contentLength) {
      throw new Error(`body is ${body.length} bytes, its Content-Length says ${contentLength}`);
    }
    return body.whole;
  }
  if (!(body instanceof Readable)) {
    const withBytes = body as { transformToByteArray?: () => Promise<Uint8Array> };
    if (typeof withBytes.transformToByteArray !== 'function') throw new TypeError('unexpected body type');
    const bytes = await withBytes.transformToByteArray();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const stream = body;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const err = new Error(`no data for ${idleMs} ms`);
      err.name = 'TimeoutError';
      stream.destroy(err);
    }, idleMs);
  };
  const onAbort = () => stream.destroy(signal!.reason instanceof Error ? signal!.reason : abortError());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    arm();
    if (contentLength === undefined) {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) {
        arm();
        chunks.push(chunk as Buffer);
      }
      return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    }
    let out: Buffer | undefined;
    let filled = 0;
    for await (const raw of stream) {
      arm();
      const chunk = raw as Buffer;
      if (filled === 0 && out === undefined && chunk.length === contentLength) {
        out = chunk; // the whole body in one piece: keep it, no copy
        filled = chunk.length;
        continue;
      }
      if (filled + chunk.length > contentLength) {
        throw new Error(`body is longer than its Content-Length ${contentLength}`);
      }
      out ??= Buffer.allocUnsafe(contentLength);
      chunk.copy(out, filled);
      filled += chunk.length;
    }
    if (filled !== contentLength) throw new Error(`body ended after ${filled} of ${contentLength} bytes`);
    return out ?? Buffer.alloc(0);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (!stream.readableEnded) stream.destroy();
  }
}

function abortError(): Error {
  const err = new Error('the request was aborted');
  err.name = 'AbortError';
  return err;
}

async function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  // Full jitter over an exponential ceiling, as the SDK's own strategy does.
  const ms = Math.random() * Math.min(20_000, 100 * 2 ** attempt);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ---- small helpers ----------------------------------------------------------------------------

/** "bytes 0-9/1234" → 1234. */
function totalSize(contentRange: string | undefined): number | undefined {
  if (contentRange === undefined) return undefined;
  const m = /\/(\d+)\s*$/.exec(contentRange);
  return m ? Number(m[1]) : undefined;
}

function quoteEtag(etag: string): string {
  if (etag === '') return etag;
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

/** S3's encoding-type=url encodes like an HTML form: '+' is a space, everything else %XX. */
export function decodeListingValue(value: string): string {
  return decodeURIComponent(value.replaceAll('+', ' '));
}

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new ObjectStoreError('Other', `the S3 response has no ${name}`);
  return value;
}

function checkRange(range: { start: number; end: number }): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
    throw new RangeError(`invalid byte range ${start}-${end}: need 0 <= start < end`);
  }
}

/** The fields of a GetObject answer that get() uses, whoever sent the request. */
type GetOutput = Pick<GetObjectCommandOutput, 'ETag' | 'ContentRange' | 'ContentLength' | 'LastModified'> & { Body: unknown };

/**
 * Shows the shortcut the GetObject request the SDK signed: the last middleware of the finalize step
 * runs after signing. (Placed by step, not next to the signer by name: a renamed anchor would make
 * every send throw.)
 */
function teachShortcut(command: GetObjectCommand, shortcut: GetShortcut, key: string): void {
  command.middlewareStack.add(
    (next: FinalizeHandler<GetObjectCommandInput, GetObjectCommandOutput>) => (args: FinalizeHandlerArguments<GetObjectCommandInput>) => {
      if (HttpRequest.isInstance(args.request)) shortcut.learn(args.request, key);
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 's3nfsTeachGetShortcut' },
  );
}

/**
 * SigV4 signs the body's SHA-256; a request that already carries `x-amz-content-sha256` is signed
 * with that value instead of hashing the body again (hashing 8 MiB parts twice cost half the CPU of
 * a large write).
 */
function withPayloadHash(command: UploadPartCommand, sha256Hex: string): void {
  command.middlewareStack.add(
    (next) => (args) => {
      const request = args.request;
      if (typeof request === 'object' && request !== null && 'headers' in request) {
        (request.headers as Record<string, string>)['x-amz-content-sha256'] = sha256Hex;
      }
      return next(args);
    },
    { step: 'build', name: 's3nfsPrecomputedPayloadHash' },
  );
}
