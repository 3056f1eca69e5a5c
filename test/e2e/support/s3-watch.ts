// Watching S3 from the host while the guest writes through the mount: HEAD until an object is published with
// the expected size, digests of whole objects, and a watcher that records everything S3 showed for a key so a
// test can prove that no partial object was ever visible.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ObjectHead {
  size: number;
  etag: string;
}

function isNotFound(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/** HEAD of `key`, or null when S3 has no such object. */
export async function headObject(client: S3Client, bucket: string, key: string): Promise<ObjectHead | null> {
  try {
    const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: h.ContentLength ?? -1, etag: h.ETag ?? '' };
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Polls HEAD until the object exists and `accept` likes it; throws with the last state after `timeoutMs`. */
export async function waitForObject(
  client: S3Client,
  bucket: string,
  key: string,
  opts: { timeoutMs: number; size?: number; accept?: (h: ObjectHead) => boolean; intervalMs?: number },
): Promise<ObjectHead> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: ObjectHead | null = null;
  for (;;) {
    last = await headObject(client, bucket, key);
    if (last && (opts.size === undefined || last.size === opts.size) && (opts.accept?.(last) ?? true)) return last;
    if (Date.now() > deadline) {
      throw new Error(`s3://${bucket}/${key} not published as expected within ${opts.timeoutMs} ms; last HEAD: ${JSON.stringify(last)}`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

/** Polls HEAD until the key is gone. */
export async function waitForAbsence(client: S3Client, bucket: string, key: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await headObject(client, bucket, key)) !== null) {
    if (Date.now() > deadline) throw new Error(`s3://${bucket}/${key} still exists after ${timeoutMs} ms`);
    await sleep(250);
  }
}

export async function getObjectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** sha256 and length of the object as GET returns it, streamed. */
export async function objectDigest(client: S3Client, bucket: string, key: string): Promise<{ sha256: string; size: number; etag: string }> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of r.Body as Readable) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
  }
  return { sha256: h.digest('hex'), size, etag: r.ETag ?? '' };
}

/** The number of parts an S3 ETag says the object was assembled from (0: a single PutObject). */
export function multipartPartCount(etag: string): number {
  const m = /-(\d+)"?$/.exec(etag);
  return m ? Number(m[1]) : 0;
}

export interface KeyObservation {
  at: number;
  head: ObjectHead | null;
  /** sha256 of the body, fetched the first time each ETag was seen. */
  sha256?: string;
}

/**
 * Records what S3 shows for one key, every `intervalMs`, until stopped; every new version is downloaded and
 * hashed. `violations` lists versions that differ from the expected object (a partial or wrong object).
 */
export class KeyWatcher {
  readonly observations: KeyObservation[] = [];
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly hashed = new Map<string, string>();
  errors: unknown[] = [];

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly expected: { size: number; sha256: string },
    private readonly intervalMs = 200,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const head = await headObject(this.client, this.bucket, this.key);
        const obs: KeyObservation = { at: Date.now(), head };
        if (head) {
          let sum = this.hashed.get(head.etag);
          if (sum === undefined) {
            sum = (await objectDigest(this.client, this.bucket, this.key)).sha256;
            this.hashed.set(head.etag, sum);
          }
          obs.sha256 = sum;
        }
        this.observations.push(obs);
      } catch (err) {
        this.errors.push(err);
      }
      await sleep(this.intervalMs);
    }
  }

  /** Observations where the key existed but was not exactly the expected object. */
  get violations(): KeyObservation[] {
    return this.observations.filter(
      (o) => o.head !== null && (o.head.size !== this.expected.size || o.sha256 !== this.expected.sha256),
    );
  }

  /** The time S3 first showed the expected object, if it did. */
  get firstComplete(): number | undefined {
    return this.observations.find((o) => o.head !== null && o.sha256 === this.expected.sha256)?.at;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  describe(): string {
    const seen = new Map<string, { first: number; last: number; size: number; sha256?: string; count: number }>();
    for (const o of this.observations) {
      const id = o.head ? o.head.etag : '(absent)';
      const s = seen.get(id);
      if (s) {
        s.last = o.at;
        s.count++;
      } else {
        seen.set(id, { first: o.at, last: o.at, size: o.head?.size ?? -1, sha256: o.sha256, count: 1 });
      }
    }
    return [...seen.entries()]
      .map(([id, s]) => `${id} size=${s.size} sha256=${s.sha256?.slice(0, 16) ?? '-'} seen ${s.count}x ${new Date(s.first).toISOString()}..${new Date(s.last).toISOString()}`)
      .join('\n');
  }
}
