// SdkObjectStore against a scripted HTTP server on loopback: the failure paths a real server rarely
// shows on demand (throttling, bodies cut off mid-way, odd answers) and the error mapping.
// Needs no S3 server, so it always runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SdkObjectStore, type SdkObjectStoreOptions } from '../../../src/s3/sdk-store.js';
import { ObjectStoreError } from '../../../src/s3/object-store.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';

/** Starts a server that answers with `handler`, runs `body` against a store pointed at it. */
async function withServer(
  handler: Handler,
  body: (store: SdkObjectStore, seen: Seen[], endpoint: string) => Promise<void>,
  options: Partial<SdkObjectStoreOptions> = {},
): Promise<void> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => handler(req, res, seen.length));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const store = new SdkObjectStore({
    bucket: 'bkt',
    endpoint,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET },
    maxAttempts: 3,
    ...options,
  });
  try {
    await body(store, seen, endpoint);
  } finally {
    store.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function xmlError(res: http.ServerResponse, status: number, code: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/xml', ...extra });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} happened</Message></Error>`);
}

function object(res: http.ServerResponse, data: Buffer, etag: string, extra: Record<string, string> = {}): void {
  res.writeHead(200, {
    'content-length': String(data.length),
    etag,
    'last-modified': 'Tue, 07 May 2024 10:00:00 GMT',
    ...extra,
  });
  res.end(data);
}

test('a throttled request (503 SlowDown) is retried and then succeeds', async () => {
  await withServer(
    (_req, res, n) => (n === 1 ? xmlError(res, 503, 'SlowDown') : object(res, Buffer.alloc(0), '"e1"')),
    async (store, seen) => {
      const info = await store.head('k');
      assert.equal(info?.etag, '"e1"');
      assert.equal(seen.length, 2);
    },
  );
});

test('errors that outlast the retries map to kinds: SlowDown → Throttled, 500 → Unavailable', async () => {
  await withServer(
    (_req, res) => xmlError(res, 503, 'SlowDown'),
    async (store, seen) => {
      const err = await store.put({ key: 'k', body: Buffer.from('x') }).catch((e: unknown) => e);
      assert.ok(err instanceof ObjectStoreError);
      assert.equal(err.kind, 'Throttled');
      assert.equal(err.code, 'SlowDown');
      assert.equal(seen.length, 2);
    },
    { maxAttempts: 2 },
  );
  await withServer(
    (_req, res) => xmlError(res, 500, 'InternalError'),
    async (store) => {
      await assert.rejects(store.list({ prefix: '' }), { kind: 'Unavailable', code: 'InternalError', status: 500 });
    },
    { maxAttempts: 2 },
  );
});

test('S3 error codes map to ObjectStoreError kinds', async () => {
  const answers: Record<string, [number, string]> = {
    '/bkt/nokey': [404, 'NoSuchKey'],
    '/bkt/denied': [403, 'AccessDenied'],
    '/bkt/range': [416, 'InvalidRange'],
    '/bkt/cond': [412, 'PreconditionFailed'],
    '/bkt/weird': [400, 'SomethingElse'],
  };
  await withServer(
    (req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      const answer = answers[path];
      if (answer) xmlError(res, answer[0], answer[1]);
      else if (path === '/bkt/upload') xmlError(res, 404, 'NoSuchUpload');
      else xmlError(res, 404, 'NoSuchBucket');
    },
    async (store) => {
      await assert.rejects(store.get({ key: 'nokey' }), { kind: 'NotFound' });
      await assert.rejects(store.get({ key: 'denied' }), { kind: 'AccessDenied' });
      await assert.rejects(store.get({ key: 'range', range: { start: 5, end: 6 } }), { kind: 'InvalidRange' });
      await assert.rejects(store.get({ key: 'cond', ifMatch: '"x"' }), { kind: 'PreconditionFailed' });
      await assert.rejects(store.get({ key: 'weird' }), { kind: 'Other', code: 'SomethingElse', status: 400 });
      await assert.rejects(store.uploadPart('upload', 'id', 1, Buffer.from('x')), { kind: 'NoSuchUpload' });
      await assert.rejects(store.list({ prefix: '' }), { kind: 'NoSuchBucket' });
      // HEAD has no body: 404 is "no such key" and resolves undefined; 403 stays an error.
      assert.equal(await store.head('nokey'), undefined);
      await assert.rejects(store.head('denied'), { kind: 'AccessDenied' });
    },
    { maxAttempts: 1 },
  );
});

test('a refused connection is Unavailable', async () => {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const store = new SdkObjectStore({
    bucket: 'bkt',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    maxAttempts: 1,
  });
  try {
    await assert.rejects(store.head('k'), { kind: 'Unavailable' });
  } finally {
    store.destroy();
  }
});

test('checkBucket names the bucket and endpoint when the bucket is missing or forbidden', async () => {
  await withServer(
    (_req, res, n) => xmlError(res, n === 1 ? 404 : 403, n === 1 ? 'NoSuchBucket' : 'AccessDenied'),
    async (store, _seen, endpoint) => {
      const missing = await store.checkBucket().catch((e: unknown) => e);
      assert.ok(missing instanceof ObjectStoreError);
      assert.equal(missing.kind, 'NoSuchBucket');
      assert.match(missing.message, /bucket "bkt"/);
      assert.ok(missing.message.includes(endpoint), missing.message);
      assert.match(missing.message, /does not exist/);
      const denied = await store.checkBucket().catch((e: unknown) => e);
      assert.ok(denied instanceof ObjectStoreError);
      assert.equal(denied.kind, 'AccessDenied');
      assert.ok(!denied.message.includes(SECRET), 'the secret key never appears in messages');
    },
    { maxAttempts: 1 },
  );
});

test('a GET body cut off mid-way is fetched again, pinned with If-Match to the first version', async () => {
  const data = Buffer.from('0123456789'.repeat(100));
  await withServer(
    (req, res, n) => {
      if (n === 1) {
        res.writeHead(200, { 'content-length': String(data.length), etag: '"v1"' });
        res.write(data.subarray(0, 300));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      if (req.headers['if-match'] !== '"v1"') return xmlError(res, 412, 'PreconditionFailed');
      object(res, data, '"v1"');
    },
    async (store, seen) => {
      const got = await store.get({ key: 'obj' });
      assert.deepEqual(got.body, data);
      assert.equal(seen.length, 2);
      assert.equal(seen[0]!.headers['if-match'], undefined);
      assert.equal(seen[1]!.headers['if-match'], '"v1"');
    },
  );
});

test('a body cut off and then replaced on the server fails with PreconditionFailed, not mixed bytes', async () => {
  await withServer(
    (req, res, n) => {
      if (n === 1) {
        res.writeHead(200, { 'content-length': '100', etag: '"v1"' });
        res.write(Buffer.alloc(50, 1));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      assert.equal(req.headers['if-match'], '"v1"');
      xmlError(res, 412, 'PreconditionFailed');
    },
    async (store) => {
      await assert.rejects(store.get({ key: 'obj' }), { kind: 'PreconditionFailed' });
    },
  );
});

test('ranged GET sends an inclusive Range header and reads the total size from Content-Range', async () => {
  await withServer(
    (req, res) => {
      assert.equal(req.headers.range, 'bytes=10-19');
      res.writeHead(206, { 'content-length': '10', 'content-range': 'bytes 10-19/12345', etag: '"r"' });
      res.end(Buffer.alloc(10, 7));
    },
    async (store) => {
      const got = await store.get({ key: 'k', range: { start: 10, end: 20 } });
      assert.deepEqual(got.body, Buffer.alloc(10, 7));
      assert.equal(got.size, 12345);
      assert.equal(got.etag, '"r"');
      await assert.rejects(store.get({ key: 'k', range: { start: 5, end: 5 } }), RangeError);
    },
  );
});

test('a server that ignores Range still yields just the requested bytes', async () => {
  const data = Buffer.from('abcdefghij');
  await withServer(
    (_req, res) => object(res, data, '"w"'),
    async (store) => {
      const got = await store.get({ key: 'k', range: { start: 2, end: 5 } });
      assert.equal(got.body.toString(), 'cde');
      assert.equal(got.size, 10);
    },
  );
});

test('an aborted GET rejects with AbortError', async () => {
  await withServer(
    (_req, res) => {
      res.writeHead(200, { 'content-length': '100', etag: '"s"' });
      res.write(Buffer.alloc(10)); // and never finishes
    },
    async (store) => {
      const ac = new AbortController();
      const pending = store.get({ key: 'k', signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(pending, { name: 'AbortError' });
    },
  );
});

test('a stalled body is given up after the idle timeout and retried', async () => {
  await withServer(
    (_req, res, n) => {
      res.writeHead(200, { 'content-length': '4', etag: '"t"' });
      if (n === 1) res.write('ab'); // then silence
      else res.end('abcd');
    },
    async (store, seen) => {
      const got = await store.get({ key: 'k' });
      assert.equal(got.body.toString(), 'abcd');
      assert.equal(seen.length, 2);
    },
    { idleTimeoutMs: 200 },
  );
});

test('listing decodes URL-encoded keys and prefixes ("+" and %20 are spaces, %2B is "+")', async () => {
  await withServer(
    (req, res) => {
      assert.match(req.url ?? '', /encoding-type=url/);
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bkt</Name><Prefix>d%2F</Prefix>` +
          `<KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>` +
          `<NextContinuationToken>tok</NextContinuationToken>` +
          `<Contents><Key>d%2Fa+b%2Bc</Key><LastModified>2024-05-07T10:00:00.000Z</LastModified><ETag>"e1"</ETag><Size>3</Size></Contents>` +
          `<Contents><Key>d%2Fx%01y%20%C3%A9</Key><LastModified>2024-05-07T10:00:00.000Z</LastModified><ETag>e2</ETag><Size>4</Size></Contents>` +
          `<CommonPrefixes><Prefix>d%2Fsub%25dir%2F</Prefix></CommonPrefixes></ListBucketResult>`,
      );
    },
    async (store) => {
      const page = await store.list({ prefix: 'd/', delimiter: '/' });
      assert.deepEqual(
        page.objects.map((o) => [o.key, o.etag, o.size]),
        [
          ['d/a b+c', '"e1"', 3],
          ['d/x\u0001y é', '"e2"', 4],
        ],
      );
      assert.deepEqual(page.prefixes, ['d/sub%dir/']);
      assert.equal(page.nextToken, 'tok');
    },
  );
});

test('an empty ETag from CompleteMultipartUpload (Ceph RGW) is filled in by HEAD', async () => {
  await withServer(
    (req, res) => {
      if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><ETag></ETag></CompleteMultipartUploadResult>`,
        );
      } else {
        object(res, Buffer.alloc(0), '"abc-2"', { 'content-length': '0' });
      }
    },
    async (store, seen) => {
      const done = await store.completeMultipartUpload('k', 'up1', [
        { partNumber: 1, etag: '"a"' },
        { partNumber: 2, etag: '"b"' },
      ]);
      assert.equal(done.etag, '"abc-2"');
      assert.deepEqual(
        seen.map((s) => s.method),
        ['POST', 'HEAD'],
      );
    },
  );
});

test('requests are signed, or unsigned with noSignRequest; options become headers', async () => {
  await withServer(
    (_req, res) => object(res, Buffer.from('x'), '"s"'),
    async (store, seen) => {
      await store.put({ key: 'k', body: Buffer.from('x'), ifNoneMatch: true });
      const h = seen[0]!.headers;
      assert.match(String(h.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
      assert.equal(h['if-none-match'], '*');
      assert.equal(h['x-amz-request-payer'], 'requester');
      assert.equal(h['x-amz-expected-bucket-owner'], '111122223333');
      assert.equal(h['x-amz-storage-class'], 'STANDARD_IA');
      assert.equal(h['x-amz-server-side-encryption'], 'aws:kms');
      assert.equal(h['x-amz-server-side-encryption-aws-kms-key-id'], 'key-1');
      // Checksums are off by default: no trailer framing that S3-compatible servers reject.
      assert.equal(h['x-amz-sdk-checksum-algorithm'], undefined);
      assert.equal(h['content-encoding'], undefined);
      assert.equal(seen[0]!.url, '/bkt/k?x-id=PutObject');
    },
    {
      requesterPays: true,
      expectedBucketOwner: '111122223333',
      storageClass: 'STANDARD_IA',
      sse: 'aws:kms',
      sseKmsKeyId: 'key-1',
    },
  );
  await withServer(
    (_req, res) => object(res, Buffer.from('x'), '"s"'),
    async (store, seen) => {
      await store.get({ key: 'public' });
      assert.equal(seen[0]!.headers.authorization, undefined);
    },
    { noSignRequest: true },
  );
});

test('copy sources are URL-encoded and conditional copies check the source with HEAD first', async () => {
  await withServer(
    (req, res) => {
      if (req.method === 'HEAD') return object(res, Buffer.alloc(0), '"cur"', { 'content-length': '5' });
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult><ETag>"cur"</ETag></CopyObjectResult>`);
    },
    async (store, seen) => {
      assert.equal((await store.copy('dir/a b+é', 'dst', '"cur"')).etag, '"cur"');
      assert.deepEqual(
        seen.map((s) => s.method),
        ['HEAD', 'PUT'],
      );
      assert.equal(seen[1]!.headers['x-amz-copy-source'], 'bkt/dir/a%20b%2B%C3%A9');
      assert.equal(seen[1]!.headers['x-amz-copy-source-if-match'], '"cur"');
      await assert.rejects(store.copy('dir/a b+é', 'dst', '"old"'), { kind: 'PreconditionFailed' });
      assert.equal(seen.length, 3, 'a stale source ETag stops before the copy');
    },
  );
});

test('parallel GETs share a bounded pool of keep-alive connections', async () => {
  const sockets = new Set<unknown>();
  await withServer(
    (req, res) => {
      sockets.add(req.socket);
      setTimeout(() => object(res, Buffer.from('data'), '"p"'), 5);
    },
    async (store) => {
      await Promise.all(Array.from({ length: 40 }, () => store.get({ key: 'k' })));
      await Promise.all(Array.from({ length: 40 }, () => store.get({ key: 'k' })));
      assert.ok(sockets.size <= 8, `at most maxSockets connections, saw ${sockets.size}`);
    },
    { maxSockets: 8 },
  );
});

test('onArriving hands over the body as it arrives, and again for the retry of a body cut off', async () => {
  const data = Buffer.from('abcdefghij'.repeat(10_000));
  let release: (() => void) | undefined;
  await withServer(
    (_req, res, n) => {
      res.writeHead(206, {
        'content-length': String(data.length),
        'content-range': `bytes 0-${data.length - 1}/${data.length}`,
        etag: '"v1"',
      });
      res.write(data.subarray(0, 30_000));
      if (n === 1) {
        setTimeout(() => res.socket?.destroy(), 20); // the first body is cut off
        return;
      }
      new Promise<void>((r) => (release = r)).then(() => res.end(data.subarray(30_000)));
    },
    async (store) => {
      const arrivals: { data: Buffer; etag: string; received: () => number; whenReceived: (n: number) => Promise<void> }[] = [];
      const got = store.get({ key: 'obj', range: { start: 0, end: data.length }, ifMatch: '"v1"', onArriving: (b) => arrivals.push(b) });
      while (arrivals.length < 2) await new Promise((r) => setTimeout(r, 5));
      const second = arrivals[1]!;
      await second.whenReceived(30_000);
      assert.ok(second.received() >= 30_000 && second.received() < data.length, `received ${second.received()}`);
      assert.deepEqual(second.data.subarray(0, 30_000), data.subarray(0, 30_000), 'the first bytes, before the rest is sent');
      assert.equal(second.etag, '"v1"');
      release!();
      const whole = await got;
      assert.equal(whole.body, second.data, 'get() resolves with the buffer the bytes arrived in');
      assert.deepEqual(whole.body, data);
      assert.equal(second.received(), data.length);
      await arrivals[0]!.whenReceived(data.length).then(
        () => assert.fail('the cut-off body never completes'),
        (err: unknown) => assert.ok(err instanceof Error),
      );
    },
  );
});
