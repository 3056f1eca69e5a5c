// SigV4Signer and GetShortcut's template: against AWS's published example, and against what the SDK
// itself builds and signs for the same GetObject (random keys, ranges, If-Match, session tokens).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { HttpRequest, HttpResponse } from '@smithy/core/transport';
import { Readable } from 'node:stream';
import { EMPTY_PAYLOAD_SHA256, SigV4Signer, encodeKeyPath } from '../../../src/s3/sigv4.js';
import { templateFrom } from '../../../src/s3/get-shortcut.js';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

test('signs the GET Object example of the S3 SigV4 documentation exactly', () => {
  const headers: Record<string, string> = { host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9' };
  new SigV4Signer('us-east-1', 's3').sign(
    { method: 'GET', path: '/test.txt', query: {}, headers },
    { accessKeyId: AKID, secretAccessKey: SECRET },
    EMPTY_PAYLOAD_SHA256,
    new Date('2013-05-24T00:00:00Z'),
  );
  assert.equal(headers['x-amz-date'], '20130524T000000Z');
  assert.equal(
    headers['authorization'],
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
      'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
      'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
  );
});

test('key paths keep slashes and encode everything outside A-Z a-z 0-9 - _ . ~', () => {
  assert.equal(encodeKeyPath('a/b c/d+e%f'), 'a/b%20c/d%2Be%25f');
  assert.equal(encodeKeyPath("x!'()*~._-"), 'x%21%27%28%29%2A~._-');
  assert.equal(encodeKeyPath('é/😀'), '%C3%A9/%F0%9F%98%80');
  assert.equal(encodeKeyPath('a//b/'), 'a//b/');
});

/** The request the SDK sends for one GetObject, captured at the wire (nothing is sent). */
async function sdkRequest(
  client: S3Client,
  input: { Key: string; Range?: string; IfMatch?: string },
): Promise<HttpRequest> {
  let seen: HttpRequest | undefined;
  const handler = client.config.requestHandler as unknown as { seen?: (r: HttpRequest) => void };
  handler.seen = (r) => (seen = r);
  await client.send(new GetObjectCommand({ Bucket: 'bkt', ...input }));
  assert.ok(seen);
  return seen;
}

function capturingClient(options: { virtualHosted?: boolean; sessionToken?: string; now: Date }): S3Client {
  const requestHandler = {
    seen: undefined as ((r: HttpRequest) => void) | undefined,
    handle(request: HttpRequest) {
      this.seen?.(request);
      const response = new HttpResponse({ statusCode: 200, headers: { 'content-length': '0' }, body: Readable.from([]) });
      return Promise.resolve({ response });
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
  return new S3Client({
    region: 'eu-west-3',
    endpoint: options.virtualHosted ? undefined : 'http://127.0.0.1:9000',
    forcePathStyle: !options.virtualHosted,
    credentials: { accessKeyId: AKID, secretAccessKey: SECRET, ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}) },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    systemClockOffset: options.now.getTime() - Date.now(),
    requestHandler,
  });
}

/** Builds the request for `key` from a template learned on `learnKey`, as GetShortcut does, and signs it. */
function rebuild(learned: HttpRequest, learnKey: string, target: HttpRequest, key: string, sessionToken?: string): Record<string, string> {
  const template = templateFrom(learned, learnKey);
  assert.equal(typeof template, 'object', String(template));
  if (typeof template === 'string') throw new Error(template);
  assert.equal(template.pathPrefix + encodeKeyPath(key), target.path, 'the path the SDK sent');
  const headers: Record<string, string> = {};
  if (template.host !== undefined) headers['host'] = template.host;
  if (target.headers['range'] !== undefined) headers['range'] = target.headers['range'];
  if (target.headers['if-match'] !== undefined) headers['if-match'] = target.headers['if-match'];
  // The SDK also signs its own bookkeeping fields; sign the same set so the signatures can be compared.
  for (const name of ['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent']) {
    if (target.headers[name] !== undefined) headers[name] = target.headers[name];
  }
  const date = target.headers['x-amz-date']!;
  const now = new Date(`${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`);
  new SigV4Signer(template.region, template.service).sign(
    { method: 'GET', path: target.path, query: { 'x-id': 'GetObject' }, headers },
    { accessKeyId: AKID, secretAccessKey: SECRET, ...(sessionToken ? { sessionToken } : {}) },
    template.payloadHash,
    now,
  );
  return headers;
}

const keyChars = fc.constantFrom('a', 'Z', '0', ' ', '/', '%', '+', '~', '!', '*', "'", '(', ')', '&', '=', '?', '#', 'é', '😀', '\t', ':', '@', ',', ';', '$', '.', '-', '_');
const key = fc
  .array(keyChars, { minLength: 1, maxLength: 24 })
  .map((cs) => cs.join(''))
  .filter((k) => !k.startsWith('/'));

for (const virtualHosted of [false, true]) {
  test(`signatures equal the SDK's for random keys, ranges and If-Match (${virtualHosted ? 'virtual-hosted' : 'path style'})`, async () => {
    const now = new Date('2026-11-24T10:20:30Z');
    await fc.assert(
      fc.asyncProperty(
        key,
        fc.option(fc.tuple(fc.nat(1e9), fc.nat(1e6)), { nil: undefined }),
        fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')), { nil: undefined }),
        fc.option(fc.constantFrom('FQoGZXIvYXdzE//token+/=', 'tok'), { nil: undefined }),
        async (k, range, etag, sessionToken) => {
          const client = capturingClient({ virtualHosted, now, ...(sessionToken ? { sessionToken } : {}) });
          try {
            const learned = await sdkRequest(client, { Key: 'learn/me' });
            const input: { Key: string; Range?: string; IfMatch?: string } = { Key: k };
            if (range) input.Range = `bytes=${range[0]}-${range[0] + range[1]}`;
            if (etag) input.IfMatch = `"${etag}"`;
            const target = await sdkRequest(client, input);
            const ours = rebuild(learned, 'learn/me', target, k, sessionToken);
            assert.equal(ours['authorization'], target.headers['authorization']);
            assert.equal(ours['x-amz-security-token'], target.headers['x-amz-security-token']);
          } finally {
            client.destroy();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
}

test('a template is refused for requests the shortcut cannot reproduce', () => {
  const base: { method: string; protocol: string; hostname: string; port: number; path: string; query: Record<string, string>; headers: Record<string, string> } = {
    method: 'GET',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 9000,
    path: '/bkt/k',
    query: { 'x-id': 'GetObject' },
    headers: {
      authorization: 'AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    },
  };
  const ok = templateFrom(new HttpRequest(base), 'k');
  assert.deepEqual(ok, {
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 9000,
    pathPrefix: '/bkt/',
    payloadHash: 'UNSIGNED-PAYLOAD',
    region: 'us-east-1',
    service: 's3',
  });
  const refusals: [Partial<typeof base>, RegExp][] = [
    [{ headers: { ...base.headers, 'x-amz-server-side-encryption-customer-key': 'k' } }, /header x-amz-server-side/],
    [{ headers: { ...base.headers, authorization: 'AWS4-ECDSA-P256-SHA256 Credential=…' } }, /AWS4-HMAC-SHA256/],
    [{ query: { 'x-id': 'GetObject', versionId: 'v1' } }, /query/],
    [{ path: '/bkt/other' }, /does not end with the encoded key/],
    [{ headers: { authorization: base.headers['authorization']! } }, /x-amz-content-sha256/],
  ];
  for (const [change, reason] of refusals) {
    const why = templateFrom(new HttpRequest({ ...base, ...change }), 'k');
    assert.equal(typeof why, 'string');
    assert.match(why as string, reason);
  }
});
