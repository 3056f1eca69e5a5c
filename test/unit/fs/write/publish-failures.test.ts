// S3 failures while publishing: retried with back-off, reported in status, the file never dropped.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FaultInjectingObjectStore } from '../../../../src/s3/faulty-store.js';
import { createLogger } from '../../../../src/log/logger.js';
import { KiB, ManualClock, memoryStore, openWritePath, pattern, sha, tempDir, waitFor } from './helpers.js';

const P = 16 * KiB;

test('a failing PutObject is retried with back-off until it succeeds; the file stays readable meanwhile', async (t) => {
  const inner = memoryStore();
  const store = new FaultInjectingObjectStore(inner);
  const logLines: string[] = [];
  const clock = new ManualClock();
  const wp = await openWritePath(t, await tempDir(t), store, {
    log: createLogger({ level: 'warn', write: (l) => logLines.push(l) }),
    clock,
    publishDelayMs: 5000,
    retryBaseMs: 1000,
    retryMaxMs: 60_000,
  });
  const fault = store.inject({ api: 'put', error: 'Unavailable', times: 3 });
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, Buffer.from('payload'), 'file_sync');

  const [first] = await wp.flush('k');
  assert.equal(first?.outcome, 'failed');
  const s = wp.status();
  assert.equal(s.totals.failed, 1);
  assert.equal(s.files[0]?.phase, 'failed');
  assert.equal(s.files[0]?.attempts, 1);
  assert.match(s.files[0]?.lastError ?? '', /./);
  const next = s.files[0]?.nextAttemptAt?.getTime() ?? 0;
  assert.ok(next >= clock.now() + 5000, 'the retry waits for quiet and back-off');
  assert.equal((await wp.read('k', 0, 100))?.data.toString(), 'payload');
  assert.ok(logLines.some((l) => l.includes('publish failed') && l.includes('key=k')));

  // The scheduler retries by itself, backing off further each time.
  const attemptsAt: number[] = [];
  for (let i = 0; i < 20 && inner.getSync('k') === undefined; i++) {
    const due = wp.status().files[0]?.nextAttemptAt?.getTime();
    if (due === undefined) {
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    attemptsAt.push(due);
    await clock.advance(due - clock.now());
    await waitFor(() => wp.status().files[0]?.phase !== 'publishing', 'the attempt to finish');
  }
  assert.equal(fault.fired, 3);
  assert.equal(inner.getSync('k')?.toString(), 'payload');
  assert.equal(attemptsAt.length, 3);
  assert.ok(attemptsAt[2]! - attemptsAt[1]! > attemptsAt[1]! - attemptsAt[0]! - 1000, 'back-off grows');
  await waitFor(() => !wp.isStaged('k'), 'the published copy to be dropped');
});

test('a publish that keeps failing stays staged and is never dropped; it goes through once S3 recovers', async (t) => {
  const inner = memoryStore();
  const store = new FaultInjectingObjectStore(inner);
  const wp = await openWritePath(t, await tempDir(t), store, { publishDelayMs: 10 });
  const fault = store.inject({ api: 'completeMultipartUpload', error: 'AccessDenied' });
  const data = pattern(3 * P + 17, 2);
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, data, 'unstable');
  await wp.commit('k');
  await wp.flush('k');
  await waitFor(() => fault.fired >= 5, 'several retries');
  const s = wp.status();
  assert.equal(s.files.length, 1);
  assert.equal(s.files[0]?.phase === 'failed' || s.files[0]?.phase === 'publishing', true);
  assert.ok((s.files[0]?.attempts ?? 0) >= 4);
  assert.equal(s.files[0]?.durableBytes, data.length);
  assert.equal(inner.getSync('k'), undefined, 'nothing partial became visible');
  assert.equal(inner.callCount('uploadPart'), 4, 'parts were not re-uploaded on every retry');

  fault.remove();
  await waitFor(() => inner.getSync('k') !== undefined, 'publish after recovery');
  assert.equal(sha(inner.getSync('k')!), sha(data));
  assert.equal(inner.pendingUploads().length, 0);
});

test('failed background part uploads are redone at publish', async (t) => {
  const inner = memoryStore();
  const store = new FaultInjectingObjectStore(inner);
  const wp = await openWritePath(t, await tempDir(t), store);
  const fault = store.inject({ api: 'uploadPart', error: 'Throttled', times: 3 });
  const data = pattern(5 * P, 6);
  await wp.create('k', { mode: 'unchecked' });
  for (let off = 0; off < data.length; off += 4 * KiB) {
    await wp.write('k', off, data.subarray(off, off + 4 * KiB), 'unstable');
  }
  await waitFor(() => fault.fired === 3, 'the injected failures');
  await waitFor(async () => {
    const [r] = await wp.flush('k');
    return r?.outcome === 'published' || r?.outcome === 'not-staged';
  }, 'publish');
  assert.equal(sha(inner.getSync('k')!), sha(data));
});

test('a multipart upload aborted behind our back is restarted', async (t) => {
  const inner = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), inner);
  const data = pattern(4 * P, 12);
  await wp.create('k', { mode: 'unchecked' });
  await wp.write('k', 0, data, 'unstable');
  await waitFor(() => wp.status().files[0]?.uploadedBytes === 4 * P, 'parts');
  for (const u of inner.pendingUploads()) await inner.abortMultipartUpload(u.key, u.uploadId);
  assert.deepEqual((await wp.flush('k')).map((r) => r.outcome), ['published']);
  assert.equal(sha(inner.getSync('k')!), sha(data));
  assert.equal(inner.callCount('createMultipartUpload'), 2);
});
