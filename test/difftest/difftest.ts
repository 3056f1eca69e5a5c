// The differential run: every planned operation is applied to the tree under test (the s3nfs mount)
// and to a reference tree (a local directory); the two results must agree, and so must the two
// whole trees afterwards. The first disagreement ends the run with everything needed to look into
// it: the seed, the operation, both results, the tree differences, the operations so far, and the
// subset of them that touch the paths involved, replayed once in fresh directories to see whether
// that subset alone reproduces it.
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { applyOp, describeOutcome, isRefusal, sameOutcome, type Outcome } from './apply.js';
import { Planner } from './generator.js';
import { parentOf, related } from './model.js';
import { describePlanned, featureFlags, opPaths, type Features, type PlannedOp } from './ops.js';
import {
  ReferenceTree,
  compareTrees,
  partialView,
  snapshotPartial,
  snapshotTree,
  type TreeDifference,
  type TreeEntry,
} from './snapshot.js';

export interface DifftestOptions {
  seed: number;
  ops: number;
  /** Root of the tree under test (a directory in the s3nfs mount). */
  mountRoot: string;
  /** Root of the reference tree (a local directory). Both should be empty at the start. */
  localRoot: string;
  features: Features;
  maxTreeBytes?: number;
  maxDepth?: number;
  maxFileBytes?: number;
  /**
   * Hash the content of every file every N operations (and after the last); in between only files
   * the operation touched are hashed, the rest compared by type and size. Default 1 (always).
   */
  fullContentEvery?: number;
  /**
   * Read the whole tree under test every N operations (and whenever contents are hashed in full); in
   * between only its top level and the top-level subtrees the operation named. Default 1 (always).
   * Reading a tree through s3nfs costs S3 LISTs and HEADs, so e2e runs may want fewer.
   */
  fullTreeEvery?: number;
  /** Replay the related operations of a failing prefix in fresh directories. Default true. */
  replay?: boolean;
  /** Test hook, run after operation `index` reached both trees and before they are compared. */
  afterOp?: (index: number) => Promise<void>;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface FailureReport {
  /** divergence: the trees disagree. model-mismatch: the local tree disagreed with the generator (a tool bug). */
  kind: 'divergence' | 'model-mismatch';
  seed: number;
  index: number;
  /** Wall-clock time the failing operation started (to find it in the server's log). */
  at: string;
  op: string;
  local: string;
  mount: string;
  problems: string[];
  /** The shortest failing prefix: every operation up to and including the failing one (with notes). */
  prefix: string[];
  /**
   * The operations of the prefix in the top-level subtrees the failure is about, and whether they alone
   * reproduce it (the same last operation fails with the same mount result).
   */
  slice?: { indices: number[]; ops: string[]; reproduces: boolean; detail: string[] };
  rerun: string;
}

export interface DifftestReport {
  seed: number;
  opsPlanned: number;
  opsRun: number;
  flags: string[];
  passed: boolean;
  durationMs: number;
  /** Where the time went: operations on each tree, reading each tree after them. */
  timingsMs: Timings;
  /** Per operation kind, how often each result came up on the mount ('ok', an errno, 'refused EPERM'...). */
  outcomes: Record<string, Record<string, number>>;
  /** Documented differences that were accepted (and mirrored in the local tree), one line each. */
  accepted: string[];
  failure?: FailureReport;
  /** The reference tree at the end, every file with its sha256. */
  localTree: TreeEntry[];
}

export interface Timings {
  mountOps: number;
  localOps: number;
  mountTree: number;
  localTree: number;
}

const newTimings = (): Timings => ({ mountOps: 0, localOps: 0, mountTree: 0, localTree: 0 });

interface StepCheck {
  local: Outcome | null;
  mount: Outcome;
  problems: string[];
  /** Paths the problems are about. */
  focus: string[];
  modelMismatch: boolean;
  /** Directories that vanished on the mount as S3 directories do, now removed from the local tree too. */
  vanished: string[];
  /** An 'unless-staged' operation the mount did instead of refusing; the local tree did it too. */
  refusalSkipped: boolean;
}

/** The two trees of one run and what the comparison remembers between operations. */
class TreePair {
  private readonly reference: ReferenceTree;
  /** Directories in which a file was written during the run: only those can become S3 directories. */
  private readonly heldFiles = new Set<string>();
  readonly timings = newTimings();

  constructor(
    readonly mountRoot: string,
    readonly localRoot: string,
    private readonly features: Features,
  ) {
    this.reference = new ReferenceTree(localRoot);
  }

  /** Applies one planned operation to both trees and checks results and trees. */
  async step(
    planned: PlannedOp,
    index: number,
    check: { fullTree: boolean; fullContent: boolean },
    afterOp?: (index: number) => Promise<void>,
  ): Promise<StepCheck> {
    const { fullTree, fullContent } = check;
    const { op } = planned;
    let t = performance.now();
    const lap = (what: keyof Timings): void => {
      const now = performance.now();
      this.timings[what] += now - t;
      t = now;
    };
    const mount = await applyOp(this.mountRoot, op);
    lap('mountOps');
    // A pause is time passing, not something to do twice. A refused operation reaches the reference
    // tree only when the mount did it and was allowed to (a file still staged).
    const refusalSkipped = planned.refused === 'unless-staged' && mount.ok;
    const local =
      planned.refused && !refusalSkipped ? null : op.kind === 'pause' ? mount : await applyOp(this.localRoot, op);
    lap('localOps');
    if (afterOp) await afterOp(index);

    const problems: string[] = [];
    const touched = opPaths(op);
    const focus = [...touched];
    let modelMismatch = false;
    if (local === null) {
      if (mount.ok) problems.push('the mount accepted an operation s3nfs should refuse with this flag set');
      else if (!isRefusal(mount.code)) problems.push(`the mount failed with ${mount.code}, not a refusal (EPERM, EACCES, EROFS, ENOTSUP)`);
    } else if (refusalSkipped) {
      if (!sameOutcome(local, mount)) problems.push('the mount did an operation it may refuse, the local tree then failed it');
      if (local.ok) this.noteFiles(planned);
    } else {
      const localCode = local.ok ? 'ok' : local.code;
      if (localCode !== planned.expect) {
        modelMismatch = true;
        problems.push(`the local tree answered ${localCode} where the generator's model predicted ${planned.expect}`);
      }
      if (!sameOutcome(local, mount)) problems.push('the results differ');
      if (local.ok) this.noteFiles(planned);
    }

    const hash = fullContent ? () => true : (p: string) => touched.some((x) => related(p, x));
    // Between whole-tree reads, the mount is read at its top level and in the subtrees the operation named.
    const tops = fullTree || touched.includes('') ? null : new Set(touched.map((p) => p.split('/')[0]!));
    const readMount = () => (tops ? snapshotPartial(this.mountRoot, tops, hash) : snapshotTree(this.mountRoot, hash));
    const view = (entries: TreeEntry[]) => (tops ? partialView(entries, tops) : entries);
    let localTree = await this.reference.refresh(touched);
    lap('localTree');
    let mountTree = await readMount();
    lap('mountTree');
    let diffs = compareTrees(view(localTree), mountTree);

    let vanished: string[] = [];
    if (problems.length === 0 && diffs.length > 0) {
      vanished = this.vanishedDirectories(planned, refusalSkipped, diffs, localTree);
      if (vanished.length > 0) {
        await this.mirrorVanished(vanished);
        localTree = await this.reference.refresh('all');
        mountTree = await readMount();
        diffs = compareTrees(view(localTree), mountTree);
      }
    }
    for (const d of diffs) {
      problems.push(`tree: ${d.message}`);
      focus.push(d.path);
    }
    return { local, mount, problems, focus, modelMismatch, vanished, refusalSkipped };
  }

  private noteFiles(planned: PlannedOp): void {
    const op = planned.op;
    const file = op.kind === 'create' || op.kind === 'overwrite' || op.kind === 'append' ? op.path : op.kind === 'rename' ? op.to : undefined;
    if (file === undefined) return;
    for (let dir = parentOf(file); ; dir = parentOf(dir)) {
      this.heldFiles.add(dir);
      if (dir === '') break;
    }
  }

  /**
   * With `vanishingDirs`: the directories missing on the mount when that is S3's rule at work — the
   * operation removed something (unlink, rmdir, rename) at or below them, every difference is such a
   * missing directory, none of them has a file left in the local tree, and each one (or the
   * vanished directory above it) had a file written in it. The smallest set of subtree roots, or
   * nothing when the differences are not all explained so.
   */
  private vanishedDirectories(
    planned: PlannedOp,
    refusalSkipped: boolean,
    diffs: readonly TreeDifference[],
    localTree: readonly TreeEntry[],
  ): string[] {
    const op = planned.op;
    if (!this.features.vanishingDirs || (planned.refused && !refusalSkipped)) return [];
    if (op.kind !== 'unlink' && op.kind !== 'rmdir' && op.kind !== 'rename') return [];
    const rootGone = diffs.some((d) => d.path === '' && d.kind === 'error' && d.message.includes('ENOENT'));
    const missing = rootGone
      ? ['', ...localTree.filter((e) => e.kind === 'dir').map((e) => e.path)]
      : diffs.filter((d) => d.kind === 'missing' && d.localKind === 'dir').map((d) => d.path);
    const explained = new Set(missing);
    if (!diffs.every((d) => explained.has(d.path))) return [];
    const under = (p: string, dir: string) => dir === '' || p === dir || p.startsWith(`${dir}/`);
    const tops = rootGone ? [''] : missing.filter((m) => !explained.has(parentOf(m)));
    for (const top of tops) {
      if (localTree.some((e) => e.kind === 'file' && under(e.path, top))) return [];
      if (!this.heldFiles.has(top)) return [];
      if (!opPaths(op).some((p) => related(p, top))) return [];
    }
    return tops;
  }

  /** Removes vanished directories from the local tree; a vanished root is made again on the mount. */
  private async mirrorVanished(dirs: readonly string[]): Promise<void> {
    for (const dir of dirs) {
      if (dir === '') {
        for (const name of await readdir(this.localRoot)) await rm(path.join(this.localRoot, name), { recursive: true });
        await mkdir(this.mountRoot, { recursive: true });
      } else {
        await rm(path.join(this.localRoot, dir), { recursive: true });
      }
      for (const held of [...this.heldFiles]) if (dir === '' || held === dir || held.startsWith(`${dir}/`)) this.heldFiles.delete(held);
    }
  }
}

/** A result without the message (which names the tree's absolute path). */
function outcomeLabel(o: Outcome): string {
  return o.ok ? `ok ${JSON.stringify(o.value) ?? ''}` : o.code;
}

function count(outcomes: DifftestReport['outcomes'], planned: PlannedOp, mount: Outcome): void {
  const label = planned.refused ? (mount.ok ? 'not refused (staged file)' : `refused ${mount.code}`) : mount.ok ? 'ok' : mount.code;
  const byKind = (outcomes[planned.op.kind] ??= {});
  byKind[label] = (byKind[label] ?? 0) + 1;
}

function vanishNote(dirs: readonly string[]): string {
  const names = dirs.map((d) => JSON.stringify(d === '' ? '.' : d)).join(', ');
  return `then ${names} vanished on the mount (S3 directory without keys); removed locally too`;
}

export function rerunCommand(o: DifftestOptions, ops: number): string {
  const flags = featureFlags(o.features);
  return [
    'node dist/test/difftest/runner.js',
    `--seed ${o.seed}`,
    `--ops ${ops}`,
    flags.length > 0 ? `--flags ${flags.join(',')}` : '',
    o.maxTreeBytes !== undefined ? `--max-tree-bytes ${o.maxTreeBytes}` : '',
    o.maxDepth !== undefined ? `--max-depth ${o.maxDepth}` : '',
    o.maxFileBytes !== undefined ? `--max-file-bytes ${o.maxFileBytes}` : '',
    '--mount DIR --local DIR',
  ]
    .filter(Boolean)
    .join(' ');
}

export async function runDifftest(o: DifftestOptions): Promise<DifftestReport> {
  const started = performance.now();
  const log = o.log ?? (() => {});
  const planner = new Planner(o.seed, {
    features: o.features,
    ...(o.maxTreeBytes !== undefined ? { maxTreeBytes: o.maxTreeBytes } : {}),
    ...(o.maxDepth !== undefined ? { maxDepth: o.maxDepth } : {}),
    ...(o.maxFileBytes !== undefined ? { maxFileBytes: o.maxFileBytes } : {}),
  });
  const contentEvery = Math.max(1, o.fullContentEvery ?? 1);
  const treeEvery = Math.max(1, o.fullTreeEvery ?? 1);
  const trees = new TreePair(o.mountRoot, o.localRoot, o.features);
  const outcomes: DifftestReport['outcomes'] = {};
  const done: PlannedOp[] = [];
  const described: string[] = [];
  const accepted: string[] = [];
  let failure: FailureReport | undefined;

  for (let i = 0; i < o.ops; i++) {
    const planned = planner.next();
    done.push(planned);
    described.push(`#${i} ${describePlanned(planned)}`);
    const last = i === o.ops - 1;
    const fullContent = (i + 1) % contentEvery === 0 || last;
    const fullTree = (i + 1) % treeEvery === 0 || fullContent;
    const at = new Date().toISOString();
    const check = await trees.step(planned, i, { fullTree, fullContent }, o.afterOp);
    count(outcomes, planned, check.mount);
    if (check.refusalSkipped) {
      planner.refusalSkipped(planned);
      described[i] += '\n      ↳ done on both: the file was still staged';
    }
    if (check.vanished.length > 0) {
      for (const dir of check.vanished) planner.model.removeSubtree(dir);
      const note = vanishNote(check.vanished);
      described[i] += `\n      ↳ ${note}`;
      accepted.push(`#${i} ${describePlanned(planned)}: ${note}`);
    }
    if ((i + 1) % 50 === 0) log(`difftest: seed ${o.seed}: ${i + 1}/${o.ops} operations agree`);
    if (check.problems.length === 0) continue;

    failure = {
      kind: check.modelMismatch ? 'model-mismatch' : 'divergence',
      seed: o.seed,
      index: i,
      at,
      op: describePlanned(planned),
      local: check.local === null ? '(not applied: refused on the mount only)' : describeOutcome(check.local),
      mount: describeOutcome(check.mount),
      problems: check.problems,
      prefix: described,
      rerun: rerunCommand(o, i + 1),
    };
    if (!check.modelMismatch && o.replay !== false) {
      log(`difftest: seed ${o.seed}: divergence at operation #${i}; replaying the related operations`);
      failure.slice = await replaySlice(done, check.focus, trees, o.features, outcomeLabel(check.mount));
    }
    break;
  }

  const localTree = await snapshotTree(o.localRoot, () => true);
  const t = trees.timings;
  return {
    seed: o.seed,
    opsPlanned: o.ops,
    opsRun: done.length,
    flags: featureFlags(o.features),
    passed: failure === undefined,
    durationMs: Math.round(performance.now() - started),
    timingsMs: {
      mountOps: Math.round(t.mountOps),
      localOps: Math.round(t.localOps),
      mountTree: Math.round(t.mountTree),
      localTree: Math.round(t.localTree),
    },
    outcomes,
    accepted,
    ...(failure ? { failure } : {}),
    localTree,
  };
}

/**
 * The operations of `prefix` that name a path in the top-level subtrees of `focus` or an ancestor
 * of them (pauses are kept), applied once more to new empty directories inside both roots. Cheap
 * compared with a full minimisation, and usually enough to tell which operations matter.
 */
async function replaySlice(
  prefix: readonly PlannedOp[],
  focus: readonly string[],
  trees: TreePair,
  features: Features,
  originalMount: string,
): Promise<NonNullable<FailureReport['slice']>> {
  // Whole top-level subtrees, so that what decides emptiness and listings inside them comes along.
  const tops = [...new Set(focus.map((f) => f.split('/')[0]!))];
  const indices: number[] = [];
  prefix.forEach((p, k) => {
    const paths = opPaths(p.op);
    if (p.op.kind === 'pause' || paths.some((a) => tops.some((b) => related(a, b)))) indices.push(k);
  });
  const ops = indices.map((k) => `#${k} ${describePlanned(prefix[k]!)}`);
  const name = `.difftest-replay-${Date.now().toString(36)}`;
  const replay = new TreePair(path.join(trees.mountRoot, name), path.join(trees.localRoot, name), features);
  try {
    await mkdir(replay.mountRoot);
    await mkdir(replay.localRoot);
  } catch (err) {
    return { indices, ops, reproduces: false, detail: [`could not make replay directories: ${String(err)}`] };
  }
  // The slice leaves operations out, so the local tree may drift from the generator's predictions;
  // what counts is whether the two trees still agree, and whether the last operation fails the same way.
  const detail: string[] = [];
  const last = indices[indices.length - 1]!;
  for (const k of indices) {
    const check = await replay.step(prefix[k]!, k, { fullTree: true, fullContent: true });
    const mismatch = check.modelMismatch ? ' (the slice changed this result)' : '';
    if (check.vanished.length > 0) detail.push(`#${k}: ${vanishNote(check.vanished)}`);
    const divergence = check.problems.filter((p) => !p.startsWith('the local tree answered'));
    if (divergence.length === 0) {
      if (mismatch) detail.push(`#${k}: both trees answered ${check.mount.ok ? 'ok' : check.mount.code}${mismatch}`);
      continue;
    }
    const local = check.local === null ? '(not applied: refused on the mount)' : describeOutcome(check.local);
    detail.push(`replay in ${name} diverged at #${k}: local ${local}, mount ${describeOutcome(check.mount)}`, ...divergence);
    const sameEnd = k === last && outcomeLabel(check.mount) === originalMount;
    return { indices, ops, reproduces: sameEnd, detail };
  }
  detail.push(`replay in ${name}: these operations alone agree`);
  return { indices, ops, reproduces: false, detail };
}

/** The failure as text for a terminal or a test log. */
export function formatFailure(f: FailureReport): string {
  const lines = [
    `difftest: ${f.kind === 'divergence' ? 'DIVERGENCE' : 'MODEL MISMATCH (a bug in the difftest itself)'} seed=${f.seed} at operation #${f.index} (started ${f.at})`,
    `  operation: ${f.op}`,
    `  local:     ${f.local}`,
    `  mount:     ${f.mount}`,
    ...f.problems.map((p) => `  problem:   ${p}`),
    `  rerun:     ${f.rerun}`,
  ];
  if (f.slice) {
    lines.push(
      `  related operations (${f.slice.ops.length} of ${f.prefix.length}; ${f.slice.reproduces ? 'they alone reproduce it' : 'they alone do not reproduce it'}):`,
      ...f.slice.ops.map((s) => `    ${s}`),
      ...f.slice.detail.map((s) => `    > ${s}`),
    );
  }
  lines.push(`  shortest failing prefix (${f.prefix.length} operations):`, ...f.prefix.map((s) => `    ${s}`));
  return lines.join('\n');
}
