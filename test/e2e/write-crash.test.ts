// kill -9 of s3nfs under a writing Linux kernel client (UML), with S3 watched from the host the whole time:
// - after the client's sync of a 200 MiB file, the restarted server publishes it complete, and the same mount
//   keeps working (reads and writes, no remount);
// - in the middle of a write, before any COMMIT (the supervisor relays the client's calls and kills the server
//   when the first COMMIT arrives), no partial object is ever visible: the key is absent until the client has
//   resent everything and closed, then it is the whole file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MiB,
  guestSha256,
  runScenario,
  s3nfsE2eUnavailable,
  withBucket,
  withSourceDir,
  writePatternFile,
} from './support/s3nfs-guest.js';
import { KeyWatcher, getObjectBytes, waitForObject } from './support/s3-watch.js';
import { describeRun } from './support/uml.js';
import type { SupervisorEvent } from './support/server-control.js';

const unavailable = await s3nfsE2eUnavailable();
const PUBLISH_DEADLINE_MS = 150_000;

function eventAt(events: SupervisorEvent[], event: SupervisorEvent['event'], nth = 0): number {
  const found = events.filter((e) => e.event === event)[nth];
  assert.ok(found, `no "${event}" #${nth} in supervisor events: ${JSON.stringify(events)}`);
  return found.at;
}

test('kill -9 after sync of a 200 MiB write: the restarted server publishes it whole; the mount keeps working', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const size = 200 * MiB;
  // Long enough that the first server cannot have published before it is killed right after the sync.
  const publishDelayS = 5;
  await withSourceDir(async (dir) => {
    const src = await writePatternFile(dir, 'src200.bin', `write-crash-200-${Date.now()}`, size);
    await withBucket('wcrash', async (ctx) => {
      const watcher = new KeyWatcher(ctx.client, ctx.bucket, 'big.bin', { size, sha256: src.sha256 });
      let watched: KeyWatcher | undefined = watcher;
      try {
        const { run, events, during } = await runScenario(ctx, {
          flags: ['--publish-delay', String(publishDelayS)],
          guestEnv: { SRC: src.path },
          timeoutMs: 240_000,
          guestScript: [
            'set -e',
            'cp "$SRC" big.bin',
            'sync',
            'ctl kill9',
            'sleep 1',
            'ctl start',
            // The same mount, no remount: the file handles and the directory still work.
            'ls -l big.bin',
            'sha256sum big.bin',
            'echo after-restart > after.txt',
            'cat after.txt',
            'ctl mark restarted',
            'ctl wait checked 200',
          ].join('\n'),
          during: async (server, running) => {
            await server.waitForMark('restarted', 200_000, running);
            await waitForObject(ctx.client, ctx.bucket, 'big.bin', { size, timeoutMs: PUBLISH_DEADLINE_MS });
            await waitForObject(ctx.client, ctx.bucket, 'after.txt', { size: 14, timeoutMs: PUBLISH_DEADLINE_MS });
            const after = (await getObjectBytes(ctx.client, ctx.bucket, 'after.txt')).toString();
            // One more look, so the watcher has hashed the published version.
            await new Promise((r) => setTimeout(r, 500));
            await watcher.stop();
            watched = undefined;
            await server.release('checked');
            return { after };
          },
        });
        assert.equal(run.outcome, 'ok', describeRun(run));
        assert.equal(run.exitCode, 0, describeRun(run));
        assert.ok(during);
        assert.equal(during.after, 'after-restart\n');
        assert.match(run.stdout, /^after-restart$/m);
        assert.equal(guestSha256(run.stdout, 'big.bin'), src.sha256, 'reading back after the restart differs');

        assert.deepEqual(watcher.errors, []);
        assert.equal(watcher.violations.length, 0, `S3 showed a wrong version of big.bin:\n${watcher.describe()}`);
        const complete = watcher.firstComplete;
        assert.ok(complete !== undefined, `big.bin never appeared complete:\n${watcher.describe()}`);
        // The test means something only if it was the restarted server (its recovery) that published.
        const killed = eventAt(events, 'killed');
        assert.ok(complete > killed, `big.bin was published before the kill:\n${watcher.describe()}`);
        t.diagnostic(`killed at +0; restarted listening at +${eventAt(events, 'listening', 1) - killed} ms; ` +
          `big.bin complete in S3 at +${complete - killed} ms`);
      } finally {
        await watched?.stop();
      }
    });
  });
});

test('kill -9 mid-write, before any COMMIT reaches the server: no partial object is ever visible in S3', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const size = 64 * MiB;
  const publishDelayS = 2;
  await withSourceDir(async (dir) => {
    const src = await writePatternFile(dir, 'src64.bin', `write-crash-partial-${Date.now()}`, size);
    await withBucket('wpartial', async (ctx) => {
      const watcher = new KeyWatcher(ctx.client, ctx.bucket, 'partial.bin', { size, sha256: src.sha256 }, 100);
      let watched: KeyWatcher | undefined = watcher;
      try {
        const { run, events } = await runScenario(ctx, {
          flags: ['--publish-delay', String(publishDelayS)],
          // The supervisor relays the client's calls, so it can kill the server exactly when the first COMMIT
          // arrives (the Linux client sends one after each writeback batch, every 8-16 MiB): the server has
          // answered UNSTABLE WRITEs and committed nothing.
          proxy: true,
          guestEnv: { SRC: src.path },
          timeoutMs: 180_000,
          guestScript: [
            'set -e',
            'ctl arm-kill COMMIT',
            'dd if="$SRC" of=partial.bin bs=1M conv=fsync 2>/tmp/dd.err &',
            'dd_pid=$!',
            'ctl wait-killed 120',
            // The client keeps retrying (hard mount) while the server is down.
            'sleep 2',
            'ctl start',
            'wait $dd_pid',
            'cat /tmp/dd.err',
            'sha256sum partial.bin',
            'ctl mark closed',
            'ctl wait checked 200',
          ].join('\n'),
          during: async (server, running) => {
            await server.waitForMark('closed', 170_000, running);
            await waitForObject(ctx.client, ctx.bucket, 'partial.bin', {
              size,
              timeoutMs: PUBLISH_DEADLINE_MS,
              accept: () => watcher.firstComplete !== undefined,
            });
            await watcher.stop();
            watched = undefined;
            await server.release('checked');
          },
        });
        assert.equal(run.outcome, 'ok', describeRun(run));
        assert.equal(run.exitCode, 0, describeRun(run));
        const kill = events.find((e) => e.event === 'killed');
        assert.ok(kill, JSON.stringify(events));
        assert.equal(kill.reason, 'COMMIT', 'the server was killed by the armed COMMIT');
        assert.ok((kill.writesRelayed ?? 0) > 0, `no WRITE reached the server before the kill: ${JSON.stringify(kill)}`);
        assert.equal(guestSha256(run.stdout, 'partial.bin'), src.sha256, 'reading back through the mount differs');

        assert.deepEqual(watcher.errors, []);
        const describe = () =>
          `${watcher.describe()}\nkilled ${new Date(kill.at).toISOString()} after ${kill.writesRelayed} WRITEs; ` +
          `events ${JSON.stringify(events)}`;
        assert.equal(watcher.violations.length, 0, `S3 showed a partial partial.bin:\n${describe()}`);
        const complete = watcher.firstComplete;
        assert.ok(complete !== undefined && complete > kill.at, describe());
        t.diagnostic(`killed after ${kill.writesRelayed} WRITEs (no COMMIT); S3 showed:\n${watcher.describe()}`);
      } finally {
        await watched?.stop();
      }
    });
  });
});
