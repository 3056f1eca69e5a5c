// The difftest checked against itself: two local directories must never diverge (so a report from
// a real run is about the server, not the tool), and a divergence planted in one tree is found at
// the right operation and reported with what it takes to replay it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyOp, sameOutcome } from '../../difftest/apply.js';
import { formatFailure, runDifftest, type DifftestReport } from '../../difftest/difftest.js';
import { planSequence } from '../../difftest/generator.js';
import { parseFeatures, type Features } from '../../difftest/ops.js';
import { compareTrees, snapshotTree, type TreeEntry } from '../../difftest/snapshot.js';

const runner = fileURLToPath(new URL('../../difftest/runner.js', import.meta.url));
const MiB = 1024 * 1024;

async function withRoots<T>(fn: (mount: string, local: string, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 's3nfs-difftest-'));
  try {
    const mount = path.join(dir, 'mount');
    const local = path.join(dir, 'local');
    await mkdir(mount);
    await mkdir(local);
    return await fn(mount, local, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(features: Features, seed: number, ops: number, mount: string, local: string, extra = {}): Promise<DifftestReport> {
  return runDifftest({ seed, ops, mountRoot: mount, localRoot: local, features, maxTreeBytes: 6 * MiB, ...extra });
}

for (const flags of ['no-refusals', 'allow-delete,no-refusals', 'allow-delete,allow-overwrite,append,rename,no-refusals']) {
  test(`two local directories never diverge (${flags})`, async () => {
    for (const seed of [11, 12]) {
      await withRoots(async (mount, local) => {
        const report = await run(parseFeatures(flags), seed, 150, mount, local, { fullContentEvery: 3, fullTreeEvery: seed % 2 === 0 ? 4 : 1 });
        assert.equal(report.passed, true, report.failure && formatFailure(report.failure));
        assert.equal(report.opsRun, 150);
        // Failures were really exercised, not just planned.
        const errors = Object.values(report.outcomes).flatMap((byResult) => Object.keys(byResult).filter((r) => r !== 'ok'));
        assert.ok(errors.length >= 3, JSON.stringify(report.outcomes));
        assert.deepEqual(report.localTree, await snapshotTree(mount, () => true));
      });
    }
  });
}

test('a change to the tree under test is reported at the operation after which it happened, with the seed', async () => {
  await withRoots(async (mount, local) => {
    const at = 25;
    const report = await run(parseFeatures('allow-delete,no-refusals'), 5, 100, mount, local, {
      afterOp: async (i: number) => {
        if (i === at) await writeFile(path.join(mount, 'planted'), 'x');
      },
    });
    assert.equal(report.passed, false);
    assert.equal(report.opsRun, at + 1);
    const f = report.failure!;
    assert.equal(f.kind, 'divergence');
    assert.equal(f.seed, 5);
    assert.equal(f.index, at);
    assert.equal(f.prefix.length, at + 1);
    assert.ok(f.problems.some((p) => p.includes('"planted": only on the mount')), f.problems.join('\n'));
    assert.match(f.rerun, /--seed 5 --ops 26 --flags allow-delete,no-refusals/);
    const text = formatFailure(f);
    assert.match(text, /DIVERGENCE seed=5 at operation #25/);
    // Replaying the related operations does not plant the file again.
    assert.equal(f.slice?.reproduces, false);
  });
});

test('with fewer whole-tree reads, a change deep in an untouched subtree is still found by the next one', async () => {
  await withRoots(async (mount, local) => {
    let planted: { at: number; path: string } | undefined;
    const report = await run(parseFeatures('no-refusals'), 9, 150, mount, local, {
      fullTreeEvery: 6,
      fullContentEvery: 12,
      afterOp: async (i: number) => {
        if (planted || i < 30) return;
        const dir = (await snapshotTree(mount, () => false)).find((e) => e.kind === 'dir' && e.path.includes('/'));
        if (!dir) return;
        planted = { at: i, path: `${dir.path}/planted` };
        await writeFile(path.join(mount, planted.path), 'x');
      },
    });
    assert.ok(planted, 'no nested directory by operation 150');
    const f = report.failure;
    assert.ok(f && f.index >= planted.at && f.index < planted.at + 6, `planted after #${planted.at}, found at #${f?.index}`);
    assert.ok(f.problems.some((p) => p.includes(`${JSON.stringify(planted!.path)}: only on the mount`)), f.problems.join('\n'));
  });
});

test('a changed byte in a file is found by content, and a refused operation that succeeds is a divergence', async () => {
  await withRoots(async (mount, local) => {
    const report = await run(parseFeatures('no-refusals'), 8, 200, mount, local, {
      afterOp: async (i: number) => {
        if (i !== 60) return;
        const file = (await snapshotTree(mount, () => false)).find((e) => e.kind === 'file' && (e.size ?? 0) > 0);
        assert.ok(file, 'no file to change by operation 60');
        const p = path.join(mount, file.path);
        const data = await readFile(p);
        data[data.length - 1]! ^= 1;
        await writeFile(p, data);
      },
    });
    assert.equal(report.failure?.index, 60);
    assert.ok(report.failure.problems.some((p) => p.includes('content sha256')), report.failure.problems.join('\n'));
  });
  await withRoots(async (mount, local) => {
    // A local directory accepts everything. Unlink and overwrite may be done by s3nfs too (for a file it
    // still stages): they are then done on both trees. Rename never is: the first one diverges.
    const report = await run(parseFeatures(''), 3, 300, mount, local);
    const f = report.failure;
    assert.ok(f, 'no refused rename in 300 operations');
    assert.match(f.op, /^rename .*refused on the mount only/);
    const skipped = (report.outcomes['unlink']?.['not refused (staged file)'] ?? 0) + (report.outcomes['overwrite']?.['not refused (staged file)'] ?? 0);
    assert.ok(skipped > 0, JSON.stringify(report.outcomes));
    assert.ok(f.problems.includes('the mount accepted an operation s3nfs should refuse with this flag set'));
    assert.equal(f.slice?.reproduces, true, formatFailure(f));
  });
});

test('when the local tree disagrees with the model, the tool reports itself, not the server', async () => {
  await withRoots(async (mount, local) => {
    const features = parseFeatures('no-refusals');
    const plan = planSequence(21, 100, { features });
    const i = plan.findIndex((p) => p.op.kind === 'create' && p.expect === 'ok' && !p.op.path.includes('/'));
    assert.ok(i >= 0);
    const name = (plan[i]!.op as { path: string }).path;
    // The same stray directory in both trees: they agree with each other, not with the model.
    await mkdir(path.join(mount, name));
    await mkdir(path.join(local, name));
    const report = await run(features, 21, 100, mount, local);
    assert.equal(report.failure?.kind, 'model-mismatch');
    assert.ok(report.failure.index <= i);
  });
});

/**
 * Makes a local directory behave like an S3 prefix whose files are published at once: after each
 * operation, a directory that once held a file and now holds none (below it) disappears.
 */
function s3DirectoryRule(mount: string): { afterOp: (i: number) => Promise<void>; vanished: () => number } {
  const held = new Set<string>();
  let vanished = 0;
  const afterOp = async () => {
    const tree = await snapshotTree(mount, () => false).catch(() => []);
    const files = tree.filter((e) => e.kind === 'file').map((e) => e.path);
    const hasFile = (dir: string) => files.some((f) => dir === '' || f.startsWith(`${dir}/`));
    for (const dir of ['', ...tree.filter((e) => e.kind === 'dir').map((e) => e.path)]) if (hasFile(dir)) held.add(dir);
    for (const dir of ['', ...tree.filter((e) => e.kind === 'dir').map((e) => e.path)]) {
      if (!held.has(dir) || hasFile(dir)) continue;
      await rm(path.join(mount, dir), { recursive: true, force: true });
      for (const h of [...held]) if (dir === '' || h === dir || h.startsWith(`${dir}/`)) held.delete(h);
      vanished++;
      if (dir === '') break;
    }
  };
  return { afterOp, vanished: () => vanished };
}

test('directories that vanish as S3 prefixes do are accepted with vanishing-dirs, and mirrored locally', async () => {
  const vanishingSeeds: number[] = [];
  for (const seed of [31, 32]) {
    await withRoots(async (mount, local) => {
      const rule = s3DirectoryRule(mount);
      const report = await run(parseFeatures('allow-delete,no-refusals,vanishing-dirs'), seed, 120, mount, local, {
        afterOp: rule.afterOp,
        fullContentEvery: 5,
      });
      assert.equal(report.passed, true, report.failure && formatFailure(report.failure));
      assert.equal(report.accepted.length > 0, rule.vanished() > 0);
      if (report.accepted.length > 0) vanishingSeeds.push(seed);
      assert.deepEqual(report.localTree, await snapshotTree(mount, () => true));
    });
  }
  const seed = vanishingSeeds[0];
  assert.ok(seed !== undefined, 'no directory vanished in two runs');
  await withRoots(async (mount, local) => {
    // Without the flag the same behaviour is a divergence.
    const report = await run(parseFeatures('allow-delete,no-refusals'), seed, 120, mount, local, {
      afterOp: s3DirectoryRule(mount).afterOp,
      fullContentEvery: 5,
    });
    assert.equal(report.failure?.kind, 'divergence');
    assert.ok(report.failure.problems.some((p) => p.includes('missing on the mount') || p.includes('root of the tree')), formatFailure(report.failure));
  });
});

test('a directory that never held a file may not vanish, even with vanishing-dirs', async () => {
  await withRoots(async (mount, local) => {
    const features = parseFeatures('allow-delete,no-refusals,vanishing-dirs');
    const plan = planSequence(41, 150, { features });
    // Next to the first unlink, drop an empty directory that never held a file.
    let target: string | undefined;
    const report = await run(features, 41, 150, mount, local, {
      afterOp: async (i: number) => {
        if (target !== undefined) return;
        const tree = await snapshotTree(mount, () => false);
        const empty = tree.filter((e) => e.kind === 'dir' && !tree.some((f) => f.path.startsWith(`${e.path}/`)));
        if (plan[i]!.op.kind !== 'unlink' || empty.length === 0) return;
        target = empty[0]!.path;
        await rm(path.join(mount, target), { recursive: true });
      },
    });
    assert.ok(target !== undefined, 'no empty directory next to an unlink in 150 operations');
    assert.equal(report.failure?.kind, 'divergence', `removed ${target}`);
  });
});

test('tree comparison names missing, extra, retyped, resized and changed entries', () => {
  const local: TreeEntry[] = [
    { path: 'a', kind: 'dir' },
    { path: 'a/f', kind: 'file', size: 3, sha256: 'aa' },
    { path: 'g', kind: 'file', size: 1, sha256: 'bb' },
    { path: 'h', kind: 'file', size: 1 },
    { path: 'k', kind: 'dir' },
  ];
  const mount: TreeEntry[] = [
    { path: 'a', kind: 'dir' },
    { path: 'a/f', kind: 'file', size: 3, sha256: 'cc' },
    { path: 'g', kind: 'file', size: 2, sha256: 'bb' },
    { path: 'k', kind: 'file', size: 0 },
    { path: 'z', kind: 'dir' },
  ];
  assert.deepEqual(
    compareTrees(local, mount).map((d) => d.path),
    ['a/f', 'g', 'h', 'k', 'z'],
  );
  assert.deepEqual(compareTrees(local, local), []);
});

test('errors of the same class match; different ones and ok-versus-error do not', async () => {
  const denied = { ok: false as const, code: 'EPERM', message: '' };
  assert.ok(sameOutcome(denied, { ok: false, code: 'EACCES', message: 'x' }));
  assert.ok(!sameOutcome(denied, { ok: false, code: 'ENOENT', message: '' }));
  assert.ok(!sameOutcome(denied, { ok: true, value: undefined }));
  assert.ok(!sameOutcome({ ok: true, value: { bytes: 1 } }, { ok: true, value: { bytes: 2 } }));
  await withRoots(async (mount) => {
    const r = await applyOp(mount, { kind: 'readRange', path: 'nope', offset: 0, length: 1 });
    assert.deepEqual(r.ok ? null : r.code, 'ENOENT');
  });
});

test('the command exits 0 when the trees agree and 1 with a report and summary when they do not', async () => {
  await withRoots(async (mount, local, dir) => {
    const summary = path.join(dir, 'summary.json');
    const ok = spawnSync(process.execPath, [runner, '--seed', '4', '--ops', '60', '--mount', mount, '--local', local,
      '--flags', 'allow-delete,no-refusals', '--max-tree-bytes', String(2 * MiB), '--summary', summary, '--quiet'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /seed=4 60 operations agree/);
    const report = JSON.parse(await readFile(summary, 'utf8')) as DifftestReport;
    assert.equal(report.passed, true);
    assert.deepEqual(report.localTree, await snapshotTree(local, () => true));
  });
  await withRoots(async (mount, local, dir) => {
    const summary = path.join(dir, 'summary.json');
    const bad = spawnSync(process.execPath, [runner, '--seed', '4', '--ops', '60', '--mount', mount, '--local', local,
      '--flags', 'no-refusals', '--inject-divergence', '10', '--summary', summary, '--quiet'], { encoding: 'utf8' });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /DIVERGENCE seed=4 at operation #10/);
    assert.match(bad.stdout, /shortest failing prefix \(11 operations\)/);
    const report = JSON.parse(await readFile(summary, 'utf8')) as DifftestReport;
    assert.equal(report.failure?.index, 10);
  });
  await withRoots(async (mount, local) => {
    await appendFile(path.join(mount, 'leftover'), 'x');
    const busy = spawnSync(process.execPath, [runner, '--seed', '1', '--mount', mount, '--local', local], { encoding: 'utf8' });
    assert.equal(busy.status, 2);
    assert.match(busy.stderr, /is not empty/);
  });
});
