// The conformance suite against the SDK store on the configured S3 server (Ceph RGW in the test
// command) and against the in-memory store, so both are held to the same behaviours; plus the
// bucket check's errors on the real server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineConformanceSuite } from './conformance.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { ObjectStoreError } from '../../../src/s3/object-store.js';
import { SdkObjectStore, type SdkObjectStoreOptions } from '../../../src/s3/sdk-store.js';

const endpoint = process.env.S3NFS_TEST_ENDPOINT;
const bucket = process.env.S3NFS_TEST_BUCKET;
const NO_SERVER = 'S3NFS_TEST_ENDPOINT / S3NFS_TEST_BUCKET are not set (scripts/test.sh starts a local Ceph RGW)';

function sdkStore(overrides: Partial<SdkObjectStoreOptions> = {}): SdkObjectStore {
  return new SdkObjectStore({ bucket: bucket!, endpoint: endpoint!, ...overrides });
}

defineConformanceSuite({
  name: 'SdkObjectStore on S3NFS_TEST_ENDPOINT',
  async open() {
    return endpoint && bucket ? sdkStore() : NO_SERVER;
  },
  async close(store) {
    (store as SdkObjectStore).destroy();
  },
});

defineConformanceSuite({
  name: 'MemoryObjectStore',
  async open() {
    return new MemoryObjectStore();
  },
});

test('checkBucket on the real server: a missing bucket is NoSuchBucket, bad credentials AccessDenied', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  const missing = sdkStore({ bucket: `no-such-bucket-${Date.now()}`, maxAttempts: 1 });
  const wrongKey = sdkStore({ credentials: { accessKeyId: 'NOTAKEY', secretAccessKey: 'not-a-secret' }, maxAttempts: 1 });
  try {
    const e1 = await missing.checkBucket().catch((e: unknown) => e);
    assert.ok(e1 instanceof ObjectStoreError);
    assert.equal(e1.kind, 'NoSuchBucket');
    assert.ok(e1.message.includes('no-such-bucket-') && e1.message.includes(endpoint), e1.message);
    const e2 = await wrongKey.checkBucket().catch((e: unknown) => e);
    assert.ok(e2 instanceof ObjectStoreError);
    assert.equal(e2.kind, 'AccessDenied');
    assert.ok(!e2.message.includes('not-a-secret'));
    const e3 = await wrongKey.head('anything').catch((e: unknown) => e);
    assert.ok(e3 instanceof ObjectStoreError && e3.kind === 'AccessDenied', String(e3));
  } finally {
    missing.destroy();
    wrongKey.destroy();
  }
});
