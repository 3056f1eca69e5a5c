// Checks that the server scripts/local-s3.sh starts is a usable S3 endpoint for the JS SDK with
// the settings s3nfs uses (path-style, checksums only when required): object round trips, ranged
// reads, delimiter listings with paging, and a three-part multipart upload.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type UploadPartCommandOutput,
} from '@aws-sdk/client-s3';

const endpoint = process.env.S3NFS_TEST_ENDPOINT;
const bucket = process.env.S3NFS_TEST_BUCKET;
const skip = endpoint && bucket ? false : 'S3NFS_TEST_ENDPOINT / S3NFS_TEST_BUCKET are not set (scripts/local-s3.sh start DIR writes them to DIR/env)';

/** Every key this file writes lives under its own prefix, so it can share the bucket. */
const prefix = `local-s3-test/${randomUUID()}/`;
const MiB = 1024 * 1024;

let s3: S3Client;
const written = new Set<string>();

before(() => {
  if (skip) return;
  s3 = new S3Client({
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: true,
    // Ceph answers 411 to the default aws-chunked uploads with trailing checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
});

after(async () => {
  if (skip) return;
  for (const key of written) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  s3.destroy();
});

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

async function put(key: string, body: Buffer): Promise<string | undefined> {
  written.add(key);
  const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return out.ETag;
}

async function get(key: string, range?: string): Promise<{ body: Buffer; status?: number; contentRange?: string }> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  assert.ok(out.Body, `GetObject ${key} has a body`);
  const body = Buffer.from(await out.Body.transformToByteArray());
  return { body, status: out.$metadata.httpStatusCode, contentRange: out.ContentRange };
}

/** Asserts equal bytes without printing megabytes when they differ. */
function assertSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.equal(sha256(actual), sha256(expected), `${what}: content`);
}

test('PutObject then GetObject returns the same bytes and an MD5 ETag', { skip }, async () => {
  const key = `${prefix}round-trip.bin`;
  const data = randomBytes(300 * 1024 + 17);
  const etag = await put(key, data);
  assert.equal(etag, `"${md5(data)}"`);

  const { body, status } = await get(key);
  assert.equal(status, 200);
  assertSameBytes(body, data, 'GetObject');

  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  assert.equal(head.ContentLength, data.length);
  assert.equal(head.ETag, etag);
});

test('ranged GetObject returns exactly the requested bytes', { skip }, async () => {
  const key = `${prefix}ranged.bin`;
  const data = randomBytes(64 * 1024);
  await put(key, data);

  const middle = await get(key, 'bytes=1000-1999');
  assert.equal(middle.status, 206);
  assert.equal(middle.contentRange, `bytes 1000-1999/${data.length}`);
  assertSameBytes(middle.body, data.subarray(1000, 2000), 'bytes=1000-1999');

  const tail = await get(key, `bytes=${data.length - 10}-`);
  assertSameBytes(tail.body, data.subarray(data.length - 10), 'open-ended range');

  // A range reaching past the end is cut at the end, as S3 does.
  const clamped = await get(key, `bytes=${data.length - 5}-${data.length + 100}`);
  assert.equal(clamped.contentRange, `bytes ${data.length - 5}-${data.length - 1}/${data.length}`);
  assertSameBytes(clamped.body, data.subarray(data.length - 5), 'range past the end');
});

test('ListObjectsV2 with a delimiter splits objects from common prefixes, across pages', { skip }, async () => {
  const dir = `${prefix}tree/`;
  const keys = ['a.txt', 'b.txt', 'sub1/x', 'sub1/deeper/y', 'sub2/z'];
  for (const k of keys) await put(dir + k, Buffer.from(k));

  const all = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: dir, Delimiter: '/' }));
  assert.deepEqual(
    (all.Contents ?? []).map((o) => [o.Key, o.Size]),
    [
      [`${dir}a.txt`, 5],
      [`${dir}b.txt`, 5],
    ],
  );
  assert.deepEqual(
    (all.CommonPrefixes ?? []).map((p) => p.Prefix),
    [`${dir}sub1/`, `${dir}sub2/`],
  );
  assert.equal(all.IsTruncated, false);

  // One entry per page: continuation tokens must walk objects and prefixes in key order.
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page: ListObjectsV2CommandOutput = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: dir, Delimiter: '/', MaxKeys: 1, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) seen.push(o.Key ?? '?');
    for (const p of page.CommonPrefixes ?? []) seen.push(p.Prefix ?? '?');
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    pages += 1;
    assert.ok(pages <= 10, 'listing ends');
  } while (token);
  assert.deepEqual(seen, [`${dir}a.txt`, `${dir}b.txt`, `${dir}sub1/`, `${dir}sub2/`]);

  const nested = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${dir}sub1/`, Delimiter: '/' }));
  assert.deepEqual((nested.Contents ?? []).map((o) => o.Key), [`${dir}sub1/x`]);
  assert.deepEqual((nested.CommonPrefixes ?? []).map((p) => p.Prefix), [`${dir}sub1/deeper/`]);
});

test('a three-part multipart upload reads back as one object', { skip }, async () => {
  const key = `${prefix}multipart.bin`;
  // Every part but the last must be at least 5 MiB.
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 123), randomBytes(MiB + 7)];
  const whole = Buffer.concat(parts);

  const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  assert.ok(created.UploadId, 'an upload id');
  written.add(key);
  const completed: { ETag: string; PartNumber: number }[] = [];
  for (const [i, part] of parts.entries()) {
    const out: UploadPartCommandOutput = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: i + 1, Body: part }),
    );
    const etag = out.ETag ?? '';
    assert.equal(etag, `"${md5(part)}"`, `part ${i + 1} ETag`);
    completed.push({ ETag: etag, PartNumber: i + 1 });
  }
  // Ceph answers Complete with an empty ETag (local-s3.md), so the ETag is checked on HEAD.
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId: created.UploadId,
      MultipartUpload: { Parts: completed },
    }),
  );

  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  assert.equal(head.ContentLength, whole.length);
  const partDigests = Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()));
  assert.equal(head.ETag, `"${md5(partDigests)}-3"`, 'multipart ETag: MD5 of the part MD5s, dash, part count');

  assertSameBytes((await get(key)).body, whole, 'whole multipart object');
  // A range across the boundary between parts 1 and 2.
  const start = 5 * MiB - 100;
  const across = await get(key, `bytes=${start}-${start + 199}`);
  assertSameBytes(across.body, whole.subarray(start, start + 200), 'range across a part boundary');
});
