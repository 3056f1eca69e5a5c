// A MemoryObjectStore whose GETs the test answers when it chooses (in any order), and which
// remembers every GET: what was asked, the body handed back, how it ended.

import { MemoryObjectStore } from '../../../../src/s3/memory-store.js';
import type {
  CompletedPart,
  GetRequest,
  GetResult,
  ListPage,
  ListRequest,
  MultipartUploadInfo,
  ObjectInfo,
  ObjectStore,
  PutRequest,
  PutResult,
} from '../../../../src/s3/object-store.js';

export interface GetRecord {
  key: string;
  start: number;
  end: number;
  ifMatch: string | undefined;
  outcome: 'pending' | 'ok' | 'error' | 'aborted';
  body?: Buffer;
}

interface PendingGet {
  record: GetRecord;
  run: () => void;
}

export class ControlledStore implements ObjectStore {
  readonly inner = new MemoryObjectStore();
  readonly gets: GetRecord[] = [];
  /** When false, every GET is answered on the next macrotask. */
  manual = false;
  inFlight = 0;
  maxInFlight = 0;
  private pending: PendingGet[] = [];

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Answers the pending GET at `index` (the inner store is asked only now). */
  releaseAt(index: number): void {
    const [p] = this.pending.splice(index, 1);
    p?.run();
  }

  /** Answers the pending GETs whose record matches; returns how many. */
  releaseWhere(pred: (g: GetRecord) => boolean): number {
    const chosen = this.pending.filter((p) => pred(p.record));
    this.pending = this.pending.filter((p) => !chosen.includes(p));
    for (const p of chosen) p.run();
    return chosen.length;
  }

  releaseAll(): void {
    while (this.pending.length > 0) this.releaseAt(0);
  }

  /** ArrayBuffers of every body handed out, to check replies are views of them. */
  bodyFor(data: Buffer): GetRecord | undefined {
    return this.gets.find(
      (g) =>
        g.body !== undefined &&
        g.body.buffer === data.buffer &&
        data.byteOffset >= g.body.byteOffset &&
        data.byteOffset + data.length <= g.body.byteOffset + g.body.length,
    );
  }

  get(req: GetRequest): Promise<GetResult> {
    const record: GetRecord = {
      key: req.key,
      start: req.range?.start ?? 0,
      end: req.range?.end ?? Infinity,
      ifMatch: req.ifMatch,
      outcome: 'pending',
    };
    this.gets.push(record);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<GetResult>((resolve, reject) => {
      const { signal, ...rest } = req;
      let done = false;
      const finish = (outcome: GetRecord['outcome']): boolean => {
        if (done) return false;
        done = true;
        record.outcome = outcome;
        this.inFlight--;
        return true;
      };
      const pending: PendingGet = {
        record,
        run: () => {
          this.inner.get(rest).then(
            (res) => {
              if (!finish('ok')) return;
              record.body = res.body;
              resolve(res);
            },
            (err: unknown) => {
              if (finish('error')) reject(err);
            },
          );
        },
      };
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.pending.indexOf(pending);
          if (i >= 0) this.pending.splice(i, 1);
          if (finish('aborted')) reject(signal.reason);
        },
        { once: true },
      );
      if (signal?.aborted) {
        finish('aborted');
        reject(signal.reason);
        return;
      }
      if (this.manual) this.pending.push(pending);
      else setImmediate(pending.run);
    });
  }

  checkBucket(): Promise<void> {
    return this.inner.checkBucket();
  }
  list(req: ListRequest): Promise<ListPage> {
    return this.inner.list(req);
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }
  put(req: PutRequest): Promise<PutResult> {
    return this.inner.put(req);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  copy(sourceKey: string, destKey: string, sourceEtag?: string): Promise<PutResult> {
    return this.inner.copy(sourceKey, destKey, sourceEtag);
  }
  createMultipartUpload(key: string): Promise<string> {
    return this.inner.createMultipartUpload(key);
  }
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<CompletedPart> {
    return this.inner.uploadPart(key, uploadId, partNumber, body);
  }
  uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    sourceKey: string,
    range: { start: number; end: number },
    sourceEtag?: string,
  ): Promise<CompletedPart> {
    return this.inner.uploadPartCopy(key, uploadId, partNumber, sourceKey, range, sourceEtag);
  }
  completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<PutResult> {
    return this.inner.completeMultipartUpload(key, uploadId, parts);
  }
  abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    return this.inner.abortMultipartUpload(key, uploadId);
  }
  listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    return this.inner.listMultipartUploads(prefix);
  }
}

/** Bytes that differ at every position modulo 251 and depend on a seed: slices are unambiguous. */
export function patterned(size: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >>> 8) * 13 + seed * 101) % 251;
  return b;
}

export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
