// A full staging disk: WRITE and COMMIT report NOSPC, and nothing already committed is harmed.
// Uses a 1 MiB tmpfs, so it needs root (mount); it skips otherwise.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { isFsError } from '../../../../src/fs/errors.js';
import { WritePath } from '../../../../src/fs/write/write-path.js';
import { KiB, memoryStore, pattern, sha } from './helpers.js';

const run = promisify(execFile);

async function smallDisk(t: TestContext): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 's3nfs-enospc-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  } catch {
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  t.after(async () => {
    await run('umount', ['-l', dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

test('a full staging disk answers NOSPC and keeps committed files intact', async (t) => {
  const disk = await smallDisk(t);
  if (!disk) {
    t.skip('needs root to mount a small tmpfs');
    return;
  }
  const store = memoryStore();
  const open = () =>
    WritePath.open({ store, stagingDir: disk, partSize: 64 * KiB, publishDelayMs: 3_600_000, retainPublishedMs: 0 });
  const wp = await open();

  const keep = pattern(200 * KiB, 1);
  await wp.create('keep', { mode: 'unchecked' });
  await wp.write('keep', 0, keep, 'unstable');
  await wp.commit('keep');

  await wp.create('fill', { mode: 'unchecked' });
  const chunk = pattern(64 * KiB, 2);
  let nospc: unknown;
  let written = 0;
  for (let i = 0; i < 64 && nospc === undefined; i++) {
    try {
      await wp.write('fill', i * chunk.length, chunk, 'unstable');
      written++;
    } catch (err) {
      nospc = err;
    }
  }
  assert.ok(isFsError(nospc, 'NOSPC'), `expected NOSPC, got ${String(nospc)}`);
  assert.ok(written > 0);

  // With the disk (nearly) full, CREATE and COMMIT either work or fail with NOSPC — never anything
  // worse. (Background manifest rewrites free a page now and then, so which one is not fixed.)
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: unknown) => (isFsError(e, 'NOSPC') ? 'NOSPC' : String(e)),
    );
  const created = await outcome(wp.create('another', { mode: 'unchecked' }));
  assert.ok(created === 'ok' || created === 'NOSPC', created);
  const committed = await outcome(wp.commit('fill'));
  assert.ok(committed === 'ok' || committed === 'NOSPC', committed);

  // The committed file reads back whole, through this server and after a restart.
  assert.equal(sha((await wp.read('keep', 0, keep.length))!.data), sha(keep));
  const again = await open();
  await again.orphanCleanup;
  const results = await again.flush();
  assert.ok(results.some((r) => r.key === 'keep' && r.outcome === 'published'));
  assert.equal(sha(store.getSync('keep')!), sha(keep));
  const fill = store.getSync('fill');
  assert.ok(fill !== undefined && fill.length % chunk.length === 0, 'fill is a committed state, whole chunks only');
  for (let off = 0; off < fill.length; off += chunk.length) {
    assert.ok(fill.subarray(off, off + chunk.length).equals(chunk));
  }
  // The first instance is abandoned as after a crash; the second shuts down.
  await again.shutdown(1000);
});

test('when the staging disk fills up, published local copies are dropped to make room', async (t) => {
  const disk = await smallDisk(t);
  if (!disk) {
    t.skip('needs root to mount a small tmpfs');
    return;
  }
  const store = memoryStore();
  const wp = await WritePath.open({
    store,
    stagingDir: disk,
    partSize: 1024 * KiB,
    publishDelayMs: 3_600_000,
    retainPublishedMs: 3_600_000,
  });
  t.after(() => wp.shutdown(1000).then(() => undefined));
  const first = pattern(500 * KiB, 3);
  await wp.create('first', { mode: 'unchecked' });
  await wp.write('first', 0, first, 'file_sync');
  await wp.flush('first');
  assert.equal(wp.getAttributes('first')?.phase, 'published', 'kept as a local copy');

  // Together the two files do not fit in 1 MiB: the copy of 'first' must make way.
  const second = pattern(600 * KiB, 4);
  await wp.create('second', { mode: 'unchecked' });
  await wp.write('second', 0, second, 'file_sync');
  assert.equal(wp.isStaged('first'), false);
  await wp.flush('second');
  assert.equal(sha(store.getSync('first')!), sha(first));
  assert.equal(sha(store.getSync('second')!), sha(second));
});
