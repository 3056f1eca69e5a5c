// GetShortcut on the configured S3 server (Ceph RGW in the test command): after one GET through the SDK,
// ranged GETs of any key are signed and sent by s3nfs itself and return the same bytes; answers other
// than success still become the SDK's errors; a signature the server refuses turns the shortcut off.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { HttpRequest } from '@smithy/core/transport';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { DirectGetHandler, ReceivedBody } from '../../../src/s3/direct-get.js';
import { GetShortcut } from '../../../src/s3/get-shortcut.js';
import { encodeKeyPath } from '../../../src/s3/sigv4.js';
import { isObjectStoreError } from '../../../src/s3/object-store.js';
import { createLogger, type Logger } from '../../../src/log/logger.js';

const endpoint = process.env.S3NFS_TEST_ENDPOINT;
const bucket = process.env.S3NFS_TEST_BUCKET;
const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
const skip = endpoint && bucket && accessKeyId && secretAccessKey ? false : 'needs the test S3 server (scripts/test.sh starts one)';

const PREFIX = `get-shortcut-${process.pid}/`;
const ODD_NAMES = ['plain', 'with space', 'plus+sign', 'per%cent', 'ünï/cødé 😀', "bang!quote'(paren)*star", 'a&b=c?d#e', 'tilde~dot.', 'x//y', 'trailing '];

/** A logger at info level whose lines (JSON) are kept. */
function keptLog(): { log: Logger; lines: { level: string; msg: string; answer?: string }[] } {
  const lines: { level: string; msg: string; answer?: string }[] = [];
  return { log: createLogger({ level: 'info', format: 'json', write: (l) => lines.push(JSON.parse(l)) }), lines };
}

/** A store on the test bucket and a key under PREFIX, both cleaned up after the test. */
function storeWithKey(t: TestContext, name: string): { store: SdkObjectStore; key: string } {
  const store = new SdkObjectStore({ bucket: bucket!, endpoint: endpoint! });
  const key = PREFIX + name;
  t.after(async () => {
    await store.delete(key);
    store.destroy();
  });
  return { store, key };
}

test('after one GET through the SDK, odd keys and ranges are read by the shortcut, byte for byte', { skip }, async (t) => {
  const { log, lines } = keptLog();
  const store = new SdkObjectStore({ bucket: bucket!, endpoint: endpoint!, log });
  t.after(async () => {
    for (const name of ODD_NAMES) await store.delete(PREFIX + name);
    store.destroy();
  });
  const data = new Map<string, Buffer>();
  for (const name of ODD_NAMES) {
    const body = randomBytes(64 * 1024 + name.length);
    data.set(name, body);
    await store.put({ key: PREFIX + name, body });
  }
  const first = await store.get({ key: PREFIX + 'plain' }); // the SDK sends it; the shortcut learns from it
  assert.deepEqual(first.body, data.get('plain'));
  assert.equal(store.shortcutGets, 0);

  let expected = 0;
  for (const [name, body] of data) {
    const whole = await store.get({ key: PREFIX + name });
    assert.deepEqual(whole.body, body, name);
    assert.equal(whole.size, body.length);
    const part = await store.get({ key: PREFIX + name, range: { start: 1000, end: 5000 }, ifMatch: whole.etag });
    assert.deepEqual(part.body, body.subarray(1000, 5000), `${name} [1000, 5000)`);
    assert.equal(part.size, body.length, 'the size comes from Content-Range');
    assert.equal(part.etag, whole.etag);
    assert.ok(part.lastModified.getTime() > 0);
    expected += 2;
  }
  assert.equal(store.shortcutGets, expected, 'every GET after the first went through the shortcut');
  assert.deepEqual(lines, [], 'nothing worth a log line happened');
});

test('answers other than success are the SDK errors they always were', { skip }, async (t) => {
  const { store, key } = storeWithKey(t, 'errors');
  const { etag } = await store.put({ key, body: Buffer.from('0123456789') });
  await store.get({ key }); // learn
  await assert.rejects(store.get({ key, ifMatch: '"0123456789abcdef0123456789abcdef"' }), (e: unknown) =>
    isObjectStoreError(e, 'PreconditionFailed'),
  );
  await assert.rejects(store.get({ key: PREFIX + 'missing' }), (e: unknown) => isObjectStoreError(e, 'NotFound'));
  await assert.rejects(store.get({ key, range: { start: 100, end: 200 } }), (e: unknown) => isObjectStoreError(e, 'InvalidRange'));
  const ok = await store.get({ key, ifMatch: etag, range: { start: 2, end: 4 } });
  assert.equal(ok.body.toString(), '23');
  assert.equal(store.shortcutGets, 1, 'only the successful GET was the shortcut’s');
});

test('a signature the server refuses turns the shortcut off, with one warning', { skip }, async (t) => {
  const { store, key } = storeWithKey(t, 'signed');
  await store.put({ key, body: Buffer.from('signed by s3nfs') });
  const handler = new DirectGetHandler({ fallback: new NodeHttpHandler(), maxSockets: 2, connectTimeoutMs: 5000, idleTimeoutMs: 5000 });
  t.after(() => handler.destroy());
  const url = new URL(endpoint!);
  // What the SDK sends for a path-style GetObject of this bucket (only the parts a template keeps).
  const learned = new HttpRequest({
    method: 'GET',
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: `/${bucket}/${encodeKeyPath(key)}`,
    query: { 'x-id': 'GetObject' },
    headers: {
      host: url.host,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0`,
    },
  });
  const shortcut = (secret: string, log: Logger) => {
    const s = new GetShortcut({
      send: (request, opts) => handler.handle(request, opts),
      credentials: async () => ({ accessKeyId: accessKeyId!, secretAccessKey: secret }),
      clockOffsetMs: () => 0,
      fixedHeaders: {},
      log,
    });
    s.learn(learned, key);
    return s;
  };

  const good = shortcut(secretAccessKey!, keptLog().log);
  const response = await good.get({ key, range: 'bytes=0-5' });
  assert.equal(response?.statusCode, 206);
  assert.equal((await (response!.body as ReceivedBody).whole).toString(), 'signed');

  const { log, lines } = keptLog();
  const bad = shortcut(secretAccessKey! + 'x', log);
  assert.equal(bad.ready, true);
  assert.equal(await bad.get({ key }), undefined);
  assert.equal(bad.ready, false);
  assert.equal(await bad.get({ key }), undefined, 'off for good');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.level, 'warn');
  assert.match(String(lines[0]!.answer), /SignatureDoesNotMatch/);
});
