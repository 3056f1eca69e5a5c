// The difftest as a command, run where both trees are visible (inside the UML guest, next to the
// kernel's NFS mount):
//   node dist/test/difftest/runner.js --seed 7 --ops 300 --mount /tmp/mnt/run7 --local /tmp/local7 \
//     --flags allow-delete,allow-overwrite --summary /tmp/run/files/difftest-7.json
// Exit status: 0 the trees agreed throughout, 1 they diverged, 2 the tool itself failed (bad
// arguments, trees not empty, or the local tree disagreed with the generator's model).
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatFailure, runDifftest, type DifftestOptions } from './difftest.js';
import { planSequence } from './generator.js';
import { describePlanned, parseFeatures } from './ops.js';
import { snapshotTree } from './snapshot.js';

const usage = `usage: runner.js --seed N [--ops 300] --mount DIR --local DIR [--flags a,b] [--summary FILE]
  --flags              allow-delete, allow-overwrite, append, rename, pauses, no-refusals,
                       vanishing-dirs (see ops.ts: Features)
  --max-tree-bytes N   stop drawing big files once the tree holds N bytes (default 48 MiB)
  --max-depth N        deepest path in components (default 5)
  --max-file-bytes N   largest file written (default 4 MiB)
  --full-content-every N   hash every file every N operations, else only touched ones (default 1)
  --full-tree-every N      read the mount's whole tree every N operations, else its top level and
                           the top-level subtrees the operation named (default 1)
  --no-replay          do not replay the related operations after a divergence
  --inject-divergence N    change the mount's tree after operation N (to test the tool)
  --print-plan         print the planned operations and exit
  --quiet              no progress lines`;

function wholeNumber(name: string, v: string | undefined, fallback?: number): number {
  if (v === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required`);
    return fallback;
  }
  if (!/^\d+$/.test(v)) throw new Error(`--${name}: "${v}" is not a whole number`);
  return Number(v);
}

/** After operation `at`, grows the first file of the tree by one byte (or adds a file to an empty tree). */
function divergenceInjector(root: string, at: number): (index: number) => Promise<void> {
  return async (index) => {
    if (index !== at) return;
    const files = (await snapshotTree(root, () => false)).filter((e) => e.kind === 'file');
    if (files.length > 0) await appendFile(path.join(root, files[0]!.path), 'X');
    else await writeFile(path.join(root, 'injected-by-difftest'), 'X');
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      ops: { type: 'string' },
      mount: { type: 'string' },
      local: { type: 'string' },
      flags: { type: 'string' },
      summary: { type: 'string' },
      'max-tree-bytes': { type: 'string' },
      'max-depth': { type: 'string' },
      'max-file-bytes': { type: 'string' },
      'full-content-every': { type: 'string' },
      'full-tree-every': { type: 'string' },
      'no-replay': { type: 'boolean' },
      'inject-divergence': { type: 'string' },
      'print-plan': { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const seed = wholeNumber('seed', values.seed);
  const ops = wholeNumber('ops', values.ops, 300);
  const features = parseFeatures(values.flags ?? '');
  const generator = {
    features,
    ...(values['max-tree-bytes'] !== undefined ? { maxTreeBytes: wholeNumber('max-tree-bytes', values['max-tree-bytes']) } : {}),
    ...(values['max-depth'] !== undefined ? { maxDepth: wholeNumber('max-depth', values['max-depth']) } : {}),
    ...(values['max-file-bytes'] !== undefined ? { maxFileBytes: wholeNumber('max-file-bytes', values['max-file-bytes']) } : {}),
  };
  if (values['print-plan']) {
    planSequence(seed, ops, generator).forEach((p, i) => console.log(`#${i} ${describePlanned(p)}`));
    return 0;
  }
  if (!values.mount || !values.local) throw new Error('--mount and --local are required');
  const mountRoot = path.resolve(values.mount);
  const localRoot = path.resolve(values.local);
  for (const root of [mountRoot, localRoot]) {
    await mkdir(root, { recursive: true });
    const present = await readdir(root);
    if (present.length > 0) throw new Error(`${root} is not empty (${present.slice(0, 3).join(', ')}…)`);
  }

  const quiet = values.quiet === true;
  const options: DifftestOptions = {
    seed,
    ops,
    mountRoot,
    localRoot,
    ...generator,
    fullContentEvery: wholeNumber('full-content-every', values['full-content-every'], 1),
    fullTreeEvery: wholeNumber('full-tree-every', values['full-tree-every'], 1),
    replay: values['no-replay'] !== true,
    log: (line) => {
      if (!quiet) console.error(line);
    },
  };
  if (values['inject-divergence'] !== undefined) {
    options.afterOp = divergenceInjector(mountRoot, wholeNumber('inject-divergence', values['inject-divergence']));
  }

  const report = await runDifftest(options);
  if (values.summary) await writeFile(values.summary, `${JSON.stringify(report, null, 1)}\n`);
  if (report.failure) {
    console.log(formatFailure(report.failure));
    return report.failure.kind === 'divergence' ? 1 : 2;
  }
  const files = report.localTree.filter((e) => e.kind === 'file').length;
  console.log(
    `difftest: seed=${seed} ${report.opsRun} operations agree (flags: ${report.flags.join(',') || 'none'}; ` +
      `${files} files, ${report.localTree.length - files} directories at the end; ${report.durationMs} ms: ` +
      Object.entries(report.timingsMs).map(([k, v]) => `${k} ${v}`).join(', ') + ')',
  );
  return 0;
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => {
    console.error(`difftest: ${err instanceof Error ? err.message : String(err)}\n${usage}`);
    process.exit(2);
  },
);
