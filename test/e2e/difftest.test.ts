// The differential file-system test (test/difftest) in a UML guest: the same seeded operation sequence
// goes to a directory in the s3nfs mount (Linux kernel NFS client) and to a tmpfs directory, with
// results and whole trees compared after every operation. Then, while the server still runs, S3 must
// come to hold exactly the files of the tmpfs tree: each as an object with the same bytes, nothing
// else. A run against nfs-ganesha (a POSIX server) first shows the difftest itself reports nothing
// that the kernel client alone would cause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { formatFailure, type DifftestReport } from '../difftest/difftest.js';
import { ganeshaServer, ganeshaUnavailableReason } from './support/ganesha.js';
import { s3nfsE2eUnavailable, withBucket, type BucketContext } from './support/s3nfs-guest.js';
import { GUEST_CTL, SupervisedServer, s3nfsMount } from './support/server-control.js';
import { listObjects } from './support/seed.js';
import { describeRun, repoRoot, runInGuest, shellQuote, umlUnavailableReason, type GuestRunResult } from './support/uml.js';

const unavailable = await s3nfsE2eUnavailable();
const runner = path.join(repoRoot, 'dist/test/difftest/runner.js');
/** Short, so files publish during the run (pauses let it happen) and the S3 check waits little. */
const PUBLISH_DELAY_S = 1;
/** How long S3 may take to show the tree (generous: the machine may be loaded). */
const PUBLISH_DEADLINE_MS = 90_000;

interface DiffRun {
  seeds: number[];
  ops: number;
  /** Runner flags (test/difftest/ops.ts). */
  flags: string;
  /** How often the runner reads whole trees and contents (runner.ts --full-tree-every, --full-content-every). */
  check: string;
}

/**
 * Reading the tree through s3nfs costs a ListObjectsV2 per directory (about 40 ms on the local Ceph
 * RGW): whole-tree reads every 4 operations (the top level and the touched subtrees every time), all
 * contents every 8 (touched files every time) keep a run of these sizes within the time budget.
 */
const S3NFS_CHECK = '--full-tree-every 4 --full-content-every 8';

/**
 * The guest script: one runner per seed, all at once (the server's S3 round trips dominate, and
 * concurrent clients are part of what it must handle), each in its own directory of the mount
 * (run-SEED) and of the guest's tmpfs; summaries go to $UML_FILES. With `handshake`, the guest then
 * marks "ran" and waits for the host to release it (`ctl`, server-control.ts), so S3 is checked while
 * the server still runs.
 */
function guestScript(r: DiffRun, handshake: boolean): string {
  const lines = [
    'pids=""',
    `for seed in ${r.seeds.join(' ')}; do`,
    '  mkdir "$NFS_MOUNT/run-$seed" || { echo "mkdir run-$seed failed"; exit 2; }',
    `  ${shellQuote(process.execPath)} ${shellQuote(runner)} --seed "$seed" --ops ${r.ops} --flags ${shellQuote(r.flags)} \\`,
    '    --mount "$NFS_MOUNT/run-$seed" --local "/tmp/local-$seed" --summary "$UML_FILES/summary-$seed.json" \\',
    `    ${r.check} --max-tree-bytes 16777216 --quiet > "/tmp/out-$seed" 2>&1 &`,
    '  pids="$pids $!"',
    'done',
    'status=0',
    'for pid in $pids; do wait "$pid"; rc=$?; [ "$rc" -gt "$status" ] && status=$rc; done',
    `for seed in ${r.seeds.join(' ')}; do cat "/tmp/out-$seed"; done`,
    // Summaries travel through hostfs: make sure the host sees them.
    'sync',
  ];
  if (handshake) lines.push('ctl mark ran', 'ctl wait checked 150');
  lines.push('exit $status');
  return lines.join('\n');
}

function summaries(dir: string, seeds: number[]): Promise<Map<number, DifftestReport>> {
  return Promise.all(
    seeds.map(async (seed) => {
      const text = await readFile(path.join(dir, 'files', `summary-${seed}.json`), 'utf8').catch(() => null);
      return [seed, text === null ? null : (JSON.parse(text) as DifftestReport)] as const;
    }),
  ).then((pairs) => new Map(pairs.filter((p): p is readonly [number, DifftestReport] => p[1] !== null)));
}

/** Every seed's runner passed; otherwise a message with each failure in full and the server's log. */
function failures(reports: Map<number, DifftestReport>, r: DiffRun, run: GuestRunResult): string | null {
  const out: string[] = [];
  for (const seed of r.seeds) {
    const report = reports.get(seed);
    if (!report) out.push(`seed ${seed}: no summary (the runner did not finish)`);
    else if (report.failure) out.push(formatFailure(report.failure));
  }
  if (out.length === 0 && run.exitCode === 0) return null;
  const tail = (text: string, n: number) => text.trimEnd().split('\n').slice(-n).join('\n');
  return [
    ...out,
    `--- guest: outcome=${run.outcome} exit=${run.exitCode} mountExit=${run.mountExit} serverExit=${run.serverExit}`,
    out.length === 0 ? `--- guest stdout (tail)\n${tail(run.stdout, 30)}` : '',
    `--- guest stderr (tail)\n${tail(run.stderr, 15)}`,
    `--- server log (tail)\n${tail(run.serverLog, 80)}`,
  ]
    .filter(Boolean)
    .join('\n');
}

async function objectSha256(client: S3Client, bucket: string, key: string): Promise<string> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const h = createHash('sha256');
  for await (const chunk of r.Body as Readable) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * How the bucket differs from the files of the passed runs' local trees (run-SEED/PATH → key); keys
 * under runs that failed are not looked at. Empty when S3 holds exactly those files.
 */
async function bucketDifferences(
  ctx: BucketContext,
  reports: Map<number, DifftestReport>,
  digests: Map<string, string>,
): Promise<string[]> {
  const expected = new Map<string, { size: number; sha256: string }>();
  const ignored: string[] = [];
  for (const [seed, report] of reports) {
    if (!report.passed) {
      ignored.push(`run-${seed}/`);
      continue;
    }
    for (const e of report.localTree) {
      if (e.kind === 'file') expected.set(`run-${seed}/${e.path}`, { size: e.size ?? -1, sha256: e.sha256 ?? '' });
    }
  }
  const diffs: string[] = [];
  const listed = await listObjects(ctx.client, ctx.bucket);
  const seen = new Set<string>();
  for (const o of listed) {
    if (ignored.some((p) => o.key.startsWith(p))) continue;
    seen.add(o.key);
    const want = expected.get(o.key);
    if (!want) {
      diffs.push(`extra object ${JSON.stringify(o.key)} (${o.size} bytes)`);
      continue;
    }
    if (o.size !== want.size) {
      diffs.push(`${JSON.stringify(o.key)}: ${o.size} bytes in S3, ${want.size} in the local tree`);
      continue;
    }
    const cacheKey = `${o.key}\n${o.etag}`;
    let sha = digests.get(cacheKey);
    if (sha === undefined) {
      sha = await objectSha256(ctx.client, ctx.bucket, o.key);
      digests.set(cacheKey, sha);
    }
    if (sha !== want.sha256) diffs.push(`${JSON.stringify(o.key)}: content differs from the local tree (sha256 ${sha.slice(0, 16)}…)`);
  }
  for (const key of expected.keys()) if (!seen.has(key)) diffs.push(`missing object ${JSON.stringify(key)}`);
  return diffs;
}

/** Polls until the bucket matches the local trees; the last differences after the deadline. */
async function waitForBucket(ctx: BucketContext, reports: Map<number, DifftestReport>, timeoutMs: number): Promise<string[]> {
  const digests = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const diffs = await bucketDifferences(ctx, reports, digests);
    if (diffs.length === 0 || Date.now() > deadline) return diffs;
    await sleep(500);
  }
}

/**
 * Runs the difftest against s3nfs serving a new bucket with `serveFlags`; checks the runners' verdicts,
 * then that S3 matches the local trees, first while the server runs and again after it stopped.
 */
async function difftestAgainstS3nfs(r: DiffRun, serveFlags: string[]): Promise<{ reports: Map<number, DifftestReport>; run: GuestRunResult }> {
  return withBucket('difftest', async (ctx) => {
    const work = await mkdtemp(path.join(tmpdir(), 's3nfs-e2e-difftest-'));
    const resultsDir = path.join(work, 'results');
    const stateDir = path.join(work, 'state');
    const server = await SupervisedServer.create({
      bucket: ctx.bucket,
      endpoint: ctx.env.endpoint,
      stateDir,
      flags: ['--publish-delay', String(PUBLISH_DELAY_S), ...serveFlags],
    });
    try {
      await mkdir(resultsDir);
      await mkdir(stateDir);
      let running = true;
      const guest = runInGuest({
        serverCommand: server.serverCommand,
        s3Endpoint: ctx.env.endpoint,
        mount: s3nfsMount(ctx.bucket),
        guestScript: `${GUEST_CTL}\n${guestScript(r, true)}`,
        guestEnv: server.guestEnv,
        keepResultsIn: resultsDir,
        timeoutMs: 240_000,
        serverStopTimeoutMs: 60_000,
      }).finally(() => {
        running = false;
      });

      // While the guest waits: S3 must come to match the local trees of the runs that passed.
      let whileRunning: string[] | Error;
      try {
        await server.waitForMark('ran', 230_000, () => running);
        whileRunning = await waitForBucket(ctx, await summaries(resultsDir, r.seeds), PUBLISH_DEADLINE_MS);
      } catch (err) {
        whileRunning = err instanceof Error ? err : new Error(String(err));
      } finally {
        await server.release('checked').catch(() => undefined);
      }
      const run = await guest;
      const reports = await summaries(resultsDir, r.seeds);
      const failed = failures(reports, r, run);
      assert.equal(failed, null, failed ?? '');
      if (whileRunning instanceof Error) throw whileRunning;
      assert.deepEqual(whileRunning, [], `S3 does not match the local trees ${PUBLISH_DEADLINE_MS} ms after the runs:\n${whileRunning.join('\n')}\n${describeRun(run)}`);
      // Stopping the server must not change what was published.
      const afterStop = await bucketDifferences(ctx, reports, new Map());
      assert.deepEqual(afterStop, [], `after the server stopped, S3 no longer matches:\n${afterStop.join('\n')}`);
      return { reports, run };
    } finally {
      await server.cleanup();
      await rm(work, { recursive: true, force: true });
    }
  });
}

function outcomeSummary(reports: Map<number, DifftestReport>): string {
  return [...reports.values()]
    .map((rep) => {
      const errors = Object.entries(rep.outcomes)
        .flatMap(([kind, byResult]) => Object.entries(byResult).filter(([res]) => res !== 'ok').map(([res, n]) => `${kind} ${res}×${n}`))
        .join(', ');
      const t = rep.timingsMs;
      return (
        `seed ${rep.seed}: ${rep.opsRun} ops in ${rep.durationMs} ms (ops on the mount ${t.mountOps} ms, reading the mount's tree ` +
        `${t.mountTree} ms, local ${t.localOps + t.localTree} ms); failures both sides agreed on: ${errors}` +
        (rep.accepted.length > 0 ? `; documented differences accepted: ${rep.accepted.length}` : '')
      );
    })
    .join('\n');
}

test('control: against nfs-ganesha (POSIX) the difftest finds no divergence', async (t) => {
  const reason = umlUnavailableReason() ?? ganeshaUnavailableReason();
  if (reason) return t.skip(reason);
  const exportDir = await mkdtemp(path.join(tmpdir(), 's3nfs-e2e-difftest-ganesha-'));
  const resultsDir = await mkdtemp(path.join(tmpdir(), 's3nfs-e2e-difftest-results-'));
  try {
    const r: DiffRun = {
      seeds: [301, 302],
      ops: 100,
      flags: 'allow-delete,allow-overwrite,append,rename,no-refusals',
      check: '--full-content-every 4',
    };
    const server = ganeshaServer({ dir: exportDir });
    const run = await runInGuest({
      serverCommand: server.serverCommand,
      mount: server.mount,
      guestScript: guestScript(r, false),
      keepResultsIn: resultsDir,
      timeoutMs: 150_000,
    });
    const reports = await summaries(resultsDir, r.seeds);
    const failed = failures(reports, r, run);
    assert.equal(failed, null, failed ?? '');
    t.diagnostic(outcomeSummary(reports));
  } finally {
    await rm(exportDir, { recursive: true, force: true });
    await rm(resultsDir, { recursive: true, force: true });
  }
});

test('s3nfs with default flags: the mount agrees with tmpfs, refuses delete, overwrite, append and rename of objects, and S3 gets every file', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { reports } = await difftestAgainstS3nfs({ seeds: [101, 102], ops: 60, flags: 'pauses,vanishing-dirs,refused-appends', check: S3NFS_CHECK }, []);
  t.diagnostic(outcomeSummary(reports));
});

test('s3nfs --allow-delete --allow-overwrite: the mount agrees with tmpfs and S3 ends up with exactly the local files', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { reports } = await difftestAgainstS3nfs(
    { seeds: [201, 202], ops: 60, flags: 'allow-delete,allow-overwrite,pauses,vanishing-dirs,refused-appends', check: S3NFS_CHECK },
    ['--allow-delete', '--allow-overwrite'],
  );
  t.diagnostic(outcomeSummary(reports));
});
