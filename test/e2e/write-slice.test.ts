// Writing through the mount with the Linux kernel client (UML) against s3nfs on a real S3 (Ceph RGW): what
// applications write becomes S3 objects after the publish delay — a 300 MiB cp as a multipart object, 1,000
// small files from a shell loop, a single FILE_SYNC write, an empty file — and overwrite, delete, mkdir/rmdir
// and --read-only behave as documented. Publication is observed in S3 while the server still runs, so it is
// the publish delay that published, not the flush at shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  MiB,
  guestSha256,
  runScenario,
  s3nfsE2eUnavailable,
  withBucket,
  withSourceDir,
  writePatternFile,
} from './support/s3nfs-guest.js';
import {
  getObjectBytes,
  headObject,
  multipartPartCount,
  objectDigest,
  waitForAbsence,
  waitForObject,
} from './support/s3-watch.js';
import { describeRun } from './support/uml.js';
import { eachLimit, listObjects } from './support/seed.js';

const unavailable = await s3nfsE2eUnavailable();
/** Short, so the tests wait for the delay and not for more. */
const PUBLISH_DELAY_S = 1;
/** How long the host waits for S3 to show what the guest wrote (generous: the machine may be loaded). */
const PUBLISH_DEADLINE_MS = 150_000;

test('cp of a 300 MiB file, then sync: S3 gets the same bytes as a multipart object', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const size = 300 * MiB;
  await withSourceDir(async (dir) => {
    const src = await writePatternFile(dir, 'src300.bin', `write-slice-300-${Date.now()}`, size);
    await withBucket('w300', async (ctx) => {
      const { run, during } = await runScenario(ctx, {
        flags: ['--publish-delay', String(PUBLISH_DELAY_S), '--write-part-size', '8'],
        guestEnv: { SRC: src.path },
        timeoutMs: 240_000,
        guestScript: [
          'set -e',
          'cp "$SRC" big.bin',
          'sync',
          'ctl mark synced',
          'ctl wait checked 240',
          'sha256sum big.bin',
        ].join('\n'),
        during: async (server, running) => {
          await server.waitForMark('synced', 200_000, running);
          const head = await waitForObject(ctx.client, ctx.bucket, 'big.bin', { size, timeoutMs: PUBLISH_DEADLINE_MS });
          const digest = await objectDigest(ctx.client, ctx.bucket, 'big.bin');
          await server.release('checked');
          return { head, digest };
        },
      });
      assert.equal(run.outcome, 'ok', describeRun(run));
      assert.equal(run.exitCode, 0, describeRun(run));
      assert.ok(during);
      assert.equal(during.digest.size, size);
      assert.equal(during.digest.sha256, src.sha256, 'the object in S3 differs from the source file');
      const parts = multipartPartCount(during.head.etag);
      assert.ok(parts >= 2, `expected a multipart ETag (…-N with N ≥ 2), got ${during.head.etag}`);
      t.diagnostic(`ETag ${during.head.etag}: ${parts} parts`);
      assert.equal(guestSha256(run.stdout, 'big.bin'), src.sha256, 'reading back through the mount differs');
    });
  });
});

test('1,000 small files from a shell loop, a single FILE_SYNC write, touch, mkdir and rmdir', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const count = 1000;
  const body = (i: number) => `small file ${i} of ${count}\n`;
  await withBucket('wsmall', async (ctx) => {
    const { run, during } = await runScenario(ctx, {
      flags: ['--publish-delay', String(PUBLISH_DELAY_S)],
      timeoutMs: 240_000,
      guestScript: [
        'set -e',
        'mkdir many',
        'echo "loop-start $(date +%s.%N)"',
        `for i in $(seq 1 ${count}); do echo "small file $i of ${count}" > many/f$i.txt; done`,
        'echo "loop-end $(date +%s.%N)"',
        // One WRITE with FILE_SYNC and no COMMIT: nothing else tells the server the file is done.
        'echo x > f',
        // CREATE + SETATTR, no WRITE at all.
        'touch empty',
        'mkdir localdir',
        'mkdir gone && rmdir gone',
        'test ! -e gone',
        'mkdir withfile && echo inside > withfile/g.txt',
        'ctl mark written',
        'ctl wait checked 240',
        // The local directory is still there for this client, although S3 has nothing under it.
        'ls -d localdir',
        'ls many | wc -l',
      ].join('\n'),
      during: async (server, running) => {
        await server.waitForMark('written', 200_000, running);
        const deadline = { timeoutMs: PUBLISH_DEADLINE_MS };
        await waitForObject(ctx.client, ctx.bucket, 'f', { ...deadline, size: 2 });
        await waitForObject(ctx.client, ctx.bucket, 'empty', { ...deadline, size: 0 });
        await waitForObject(ctx.client, ctx.bucket, 'withfile/g.txt', { ...deadline, size: 7 });
        const start = Date.now();
        let listed = await listObjects(ctx.client, ctx.bucket, 'many/');
        while (listed.length < count && Date.now() - start < PUBLISH_DEADLINE_MS) {
          await new Promise((r) => setTimeout(r, 500));
          listed = await listObjects(ctx.client, ctx.bucket, 'many/');
        }
        const allListed = Date.now();
        const bodies = new Map<string, string>();
        await eachLimit(listed, 16, async (o) => {
          bodies.set(o.key, (await getObjectBytes(ctx.client, ctx.bucket, o.key)).toString());
        });
        const f = (await getObjectBytes(ctx.client, ctx.bucket, 'f')).toString();
        const all = (await listObjects(ctx.client, ctx.bucket)).map((o) => o.key);
        await server.release('checked');
        return { bodies, f, all, allListed };
      },
    });
    assert.equal(run.outcome, 'ok', describeRun(run));
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.ok(during);
    const missing: string[] = [];
    const wrong: string[] = [];
    for (let i = 1; i <= count; i++) {
      const got = during.bodies.get(`many/f${i}.txt`);
      if (got === undefined) missing.push(`f${i}`);
      else if (got !== body(i)) wrong.push(`f${i}: ${JSON.stringify(got)}`);
    }
    assert.deepEqual(missing, [], `${missing.length} of ${count} small files never appeared in S3`);
    assert.deepEqual(wrong, [], 'small files with the wrong content');
    assert.equal(during.bodies.size, count, 'unexpected extra keys under many/');
    assert.equal(during.f, 'x\n');
    const loopStart = Number(/^loop-start (\S+)$/m.exec(run.stdout)?.[1]) * 1000;
    const loopEnd = Number(/^loop-end (\S+)$/m.exec(run.stdout)?.[1]) * 1000;
    t.diagnostic(`shell loop: ${Math.round(loopEnd - loopStart)} ms for ${count} files; all listed in S3 ` +
      `${Math.round(during.allListed - loopEnd)} ms after the loop ended`);
    // Directories are local until a file is written in them; rmdir removed an empty one.
    const dirKeys = during.all.filter((k) => /^(localdir|gone|many|withfile)\/?$/.test(k) || k.startsWith('localdir/') || k.startsWith('gone/'));
    assert.deepEqual(dirKeys, [], 'directory markers or keys for empty directories in S3');
    assert.match(run.stdout, /^localdir$/m, 'the empty local directory disappeared from the mount');
    assert.match(run.stdout, new RegExp(`^${count}$`, 'm'));
    // After the run (the shutdown flushed whatever was pending) still no trace of the empty directories.
    const after = (await listObjects(ctx.client, ctx.bucket)).map((o) => o.key);
    assert.ok(!after.some((k) => k.startsWith('localdir') || k.startsWith('gone')), after.filter((k) => !k.startsWith('many/')).join(', '));
  });
});

/** One line per mutation in the guest: "NAME rc=N err=MESSAGE". */
function tryEach(ops: Record<string, string>): string {
  return Object.entries(ops)
    .map(([name, cmd]) => `if ( ${cmd} ) 2>/tmp/err; then echo "${name} rc=0"; else echo "${name} rc=$? err=$(tr '\\n' ' ' </tmp/err)"; fi`)
    .join('\n');
}

function outcomeOf(stdout: string, name: string): { rc: number; err: string } {
  const m = new RegExp(`^${name} rc=(\\d+)(?: err=(.*))?$`, 'm').exec(stdout);
  assert.ok(m, `no outcome for ${name} in guest output:\n${stdout}`);
  return { rc: Number(m[1]), err: m[2] ?? '' };
}

test('without --allow-overwrite and --allow-delete, replacing and removing objects fail and S3 is unchanged', async (t) => {
  if (unavailable) return t.skip(unavailable);
  await withBucket('wnoflags', async (ctx) => {
    await ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: 'existing.txt', Body: 'original\n' }));
    await ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: 'keep.txt', Body: 'keep me\n' }));
    const before = await listObjects(ctx.client, ctx.bucket);
    const { run } = await runScenario(ctx, {
      flags: ['--publish-delay', String(PUBLISH_DELAY_S)],
      timeoutMs: 90_000,
      guestScript: [
        tryEach({ overwrite: 'echo new > existing.txt', remove: 'rm keep.txt' }),
        'cat existing.txt keep.txt',
        // Longer than the publish delay: nothing may be published meanwhile.
        `sleep ${PUBLISH_DELAY_S * 3}`,
      ].join('\n'),
    });
    assert.equal(run.outcome, 'ok', describeRun(run));
    const overwrite = outcomeOf(run.stdout, 'overwrite');
    assert.notEqual(overwrite.rc, 0, 'echo new > existing.txt succeeded without --allow-overwrite');
    assert.match(overwrite.err, /Operation not permitted|Permission denied/);
    const remove = outcomeOf(run.stdout, 'remove');
    assert.notEqual(remove.rc, 0, 'rm succeeded without --allow-delete');
    assert.match(remove.err, /Operation not permitted/);
    assert.match(run.stdout, /^original\nkeep me$/m, 'the mount no longer shows the original content');
    // The run is over and the server flushed at shutdown: S3 is final.
    const after = await listObjects(ctx.client, ctx.bucket);
    assert.deepEqual(
      after.map((o) => [o.key, o.etag, o.size]),
      before.map((o) => [o.key, o.etag, o.size]),
    );
    assert.equal((await getObjectBytes(ctx.client, ctx.bucket, 'existing.txt')).toString(), 'original\n');
  });
});

test('with --allow-overwrite and --allow-delete, echo replaces an object and rm removes one', async (t) => {
  if (unavailable) return t.skip(unavailable);
  await withBucket('wflags', async (ctx) => {
    await ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: 'existing.txt', Body: 'original\n' }));
    await ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: 'doomed.txt', Body: 'remove me\n' }));
    const original = await headObject(ctx.client, ctx.bucket, 'existing.txt');
    assert.ok(original);
    const { run, during } = await runScenario(ctx, {
      flags: ['--publish-delay', String(PUBLISH_DELAY_S), '--allow-overwrite', '--allow-delete'],
      timeoutMs: 120_000,
      guestScript: [
        tryEach({ overwrite: 'echo new > existing.txt', remove: 'rm doomed.txt' }),
        'cat existing.txt',
        'ls',
        'ctl mark done',
        'ctl wait checked 180',
      ].join('\n'),
      during: async (server, running) => {
        await server.waitForMark('done', 60_000, running);
        await waitForObject(ctx.client, ctx.bucket, 'existing.txt', {
          timeoutMs: PUBLISH_DEADLINE_MS,
          accept: (h) => h.etag !== original.etag,
        });
        const body = (await getObjectBytes(ctx.client, ctx.bucket, 'existing.txt')).toString();
        await waitForAbsence(ctx.client, ctx.bucket, 'doomed.txt', PUBLISH_DEADLINE_MS);
        await server.release('checked');
        return body;
      },
    });
    assert.equal(run.outcome, 'ok', describeRun(run));
    assert.equal(outcomeOf(run.stdout, 'overwrite').rc, 0, describeRun(run));
    assert.equal(outcomeOf(run.stdout, 'remove').rc, 0, describeRun(run));
    assert.equal(during, 'new\n');
    assert.match(run.stdout, /^new$/m);
    assert.doesNotMatch(run.stdout, /doomed\.txt/);
    assert.equal(await headObject(ctx.client, ctx.bucket, 'doomed.txt'), null);
  });
});

test('--read-only: every mutation fails (EROFS, or EACCES where the client asks ACCESS first) and S3 is unchanged', async (t) => {
  if (unavailable) return t.skip(unavailable);
  await withBucket('wro', async (ctx) => {
    await ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: 'existing.txt', Body: 'original\n' }));
    await ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: 'sub/inner.txt', Body: 'inner\n' }));
    const before = await listObjects(ctx.client, ctx.bucket);
    // Calls that reach the server as CREATE, SETATTR, REMOVE, RENAME, MKDIR, RMDIR, SYMLINK, LINK, MKNOD: EROFS
    // (read-only comes first, as with knfsd, even for what S3 could never do anyway).
    const rofs: Record<string, string> = {
      create: 'echo x > new.txt',
      touchNew: 'touch new2.txt',
      chmod: 'chmod 600 existing.txt',
      remove: 'rm existing.txt',
      rename: 'mv existing.txt moved.txt',
      mkdir: 'mkdir newdir',
      rmdir: 'rmdir sub',
      symlink: 'ln -s existing.txt link',
      hardLink: 'ln existing.txt hardlink',
      mkfifo: 'mkfifo fifo',
    };
    // Opening an existing file for writing: the Linux client checks ACCESS at open(), and a read-only export
    // grants no MODIFY/EXTEND (as knfsd does), so open() fails with EACCES before any SETATTR or WRITE is sent.
    // Granting them instead would turn the error into EROFS, but only at close() for appends, which shells ignore.
    const openForWrite: Record<string, string> = {
      overwrite: 'echo new > existing.txt',
      append: 'echo more >> existing.txt',
      truncate: 'truncate -s 0 existing.txt',
      touchExisting: 'touch existing.txt',
    };
    const { run } = await runScenario(ctx, {
      flags: ['--read-only'],
      timeoutMs: 90_000,
      guestScript: [tryEach({ ...rofs, ...openForWrite }), 'cat existing.txt', 'ls'].join('\n'),
    });
    assert.equal(run.outcome, 'ok', describeRun(run));
    const wrong: string[] = [];
    for (const name of Object.keys(rofs)) {
      const o = outcomeOf(run.stdout, name);
      if (o.rc === 0 || !/Read-only file system/.test(o.err)) wrong.push(`${name}: rc=${o.rc} ${o.err}`);
    }
    for (const name of Object.keys(openForWrite)) {
      const o = outcomeOf(run.stdout, name);
      if (o.rc === 0 || !/Read-only file system|Permission denied/.test(o.err)) wrong.push(`${name}: rc=${o.rc} ${o.err}`);
    }
    assert.deepEqual(wrong, [], `mutations that did not fail as expected:\n${wrong.join('\n')}`);
    assert.match(run.stdout, /^original$/m);
    const after = await listObjects(ctx.client, ctx.bucket);
    assert.deepEqual(
      after.map((o) => [o.key, o.etag, o.size]),
      before.map((o) => [o.key, o.etag, o.size]),
    );
  });
});
