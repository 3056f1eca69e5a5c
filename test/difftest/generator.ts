// Seeded operation sequences: each operation is drawn against the model of the tree so far, mostly
// valid ones (new files of awkward sizes, reads of existing files, mkdir in existing directories) and
// about one in six aimed at a failure both trees must report the same way (mkdir of an existing name,
// rmdir of a non-empty directory, reading a directory, opening a missing file...). A sequence is
// prefix-stable: the first N operations of a seed do not depend on how many more are drawn, so a
// failure at operation N replays with `--ops N+1`.
import { Prng } from './prng.js';
import { TreeModel, depthOf, join } from './model.js';
import type { Features, Op, OpKind, Payload, PlannedOp } from './ops.js';

export interface GeneratorOptions {
  features: Features;
  /** Stop drawing big files once the files in the tree add up to this. Default 48 MiB. */
  maxTreeBytes?: number;
  /** Deepest path (in components). Default 5. */
  maxDepth?: number;
  /** Largest file the generator writes. Default 4 MiB. */
  maxFileBytes?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Plain names collide often (so EEXIST and ENOTEMPTY come up); the others test how names become keys. */
const plainNames = ['a', 'b', 'c', 'd', 'data', 'logs', 'x1', 'A'];
const awkwardNames = [
  'with space',
  'plus+sign',
  '100%',
  'x%2Fy',
  'q?mark',
  'hash#tag',
  'amp&eq=',
  'semi;colon',
  "quote'",
  'back\\slash',
  'été',
  '日本語',
  'emoji-😀',
  '.dot',
  'trail.',
  '-dash',
  'tilde~',
  'n'.repeat(200),
];

export function planSequence(seed: number, count: number, options: GeneratorOptions): PlannedOp[] {
  const planner = new Planner(seed, options);
  return Array.from({ length: Math.max(0, count) }, () => planner.next());
}

/**
 * Draws operations one at a time for `seed`. The runner may tell it about documented differences
 * it accepted (a directory that vanished on the mount, see difftest.ts) before the next draw.
 */
export class Planner {
  readonly model = new TreeModel();
  private readonly drawer: Drawer;

  constructor(seed: number, options: GeneratorOptions) {
    this.drawer = new Drawer(new Prng(seed), this.model, options);
  }

  next(): PlannedOp {
    const planned = this.drawer.draw();
    if (planned.expect === 'ok' && !planned.refused) this.model.apply(planned.op);
    return planned;
  }

  /** The mount did an 'unless-staged' operation instead of refusing it (and so did the local tree). */
  refusalSkipped(planned: PlannedOp): void {
    if (this.model.predict(planned.op) === 'ok') this.model.apply(planned.op);
  }
}

type RefusedKind = 'refusedUnlink' | 'refusedOverwrite' | 'refusedAppend' | 'refusedRename';

class Drawer {
  private readonly f: Features;
  private readonly maxTreeBytes: number;
  private readonly maxDepth: number;
  private readonly maxFileBytes: number;

  constructor(
    private readonly rng: Prng,
    private readonly model: TreeModel,
    options: GeneratorOptions,
  ) {
    this.f = options.features;
    this.maxTreeBytes = options.maxTreeBytes ?? 48 * MiB;
    this.maxDepth = options.maxDepth ?? 5;
    this.maxFileBytes = options.maxFileBytes ?? 4 * MiB;
  }

  draw(): PlannedOp {
    const f = this.f;
    const kinds: [OpKind | RefusedKind, number][] = [
      ['create', 24],
      ['readWhole', 8],
      ['readRange', 8],
      ['stat', 7],
      ['readdir', 7],
      ['mkdir', 10],
      ['rmdir', 6],
    ];
    if (f.allowDelete) kinds.push(['unlink', 8]);
    else if (f.refusals) kinds.push(['refusedUnlink', 2]);
    if (f.allowOverwrite) kinds.push(['overwrite', 5]);
    else if (f.refusals) kinds.push(['refusedOverwrite', 2]);
    if (f.append) kinds.push(['append', 5]);
    else if (f.refusals && f.refusedAppends) kinds.push(['refusedAppend', 1.5]);
    if (f.rename) kinds.push(['rename', 5]);
    else if (f.refusals) kinds.push(['refusedRename', 1]);
    if (f.pauses) kinds.push(['pause', 1.5]);

    for (;;) {
      const kind = this.rng.weighted(kinds);
      const op = this.drawKind(kind);
      if (!op) continue; // nothing to aim at yet (e.g. no file to read): draw another kind
      if (kind === 'refusedRename') return { op, expect: 'ok', refused: 'always' };
      if (kind === 'refusedUnlink' || kind === 'refusedOverwrite' || kind === 'refusedAppend') {
        return { op, expect: 'ok', refused: 'unless-staged' };
      }
      return { op, expect: this.model.predict(op) };
    }
  }

  private drawKind(kind: OpKind | RefusedKind): Op | undefined {
    const rng = this.rng;
    const fail = rng.chance(1 / 6);
    switch (kind) {
      case 'create': {
        if (fail) {
          const path = this.failingTarget(['existing', 'missingParent', 'underFile']);
          if (path === undefined) return undefined;
          const node = this.model.get(path);
          // O_TRUNC on an existing file is an overwrite, not a failure: only directories fail that way.
          const exclusive = node?.kind === 'file' ? true : rng.chance(0.5);
          return { kind: 'create', path, exclusive, ...this.payload() };
        }
        const dir = this.pickDir();
        return { kind: 'create', path: this.freshName(dir), exclusive: rng.chance(0.5), ...this.payload() };
      }
      case 'readWhole':
      case 'readRange': {
        const path = fail ? this.failingTarget(['dir', 'missing', 'underFile']) : this.pickFile();
        if (path === undefined) return undefined;
        if (kind === 'readWhole') return { kind, path };
        const node = this.model.get(path);
        const size = node?.kind === 'file' ? node.size : 0;
        return { kind, path, ...this.range(size) };
      }
      case 'stat': {
        const path = fail ? this.failingTarget(['missing', 'underFile']) : rng.pick(this.model.paths());
        return path === undefined ? undefined : { kind, path };
      }
      case 'readdir': {
        const path = fail ? this.failingTarget(['file', 'missing']) : this.pickDir();
        return path === undefined ? undefined : { kind, path };
      }
      case 'mkdir': {
        if (fail) {
          const path = this.failingTarget(['existing', 'missingParent', 'underFile']);
          return path === undefined ? undefined : { kind, path, recursive: rng.chance(0.2) };
        }
        const dir = this.pickDir(this.maxDepth - 1);
        if (rng.chance(0.2)) {
          // mkdir -p of a new chain, possibly starting at an existing directory.
          let path = this.freshName(dir);
          const extra = rng.int(0, Math.max(0, this.maxDepth - depthOf(path)));
          for (let i = 0; i < Math.min(extra, 2); i++) path = join(path, rng.pick(plainNames));
          return { kind, path, recursive: true };
        }
        return { kind, path: this.freshName(dir), recursive: false };
      }
      case 'rmdir': {
        const empty = this.model.paths('dir').filter((d) => d !== '' && this.model.children(d).length === 0);
        if (!fail && empty.length > 0 && rng.chance(0.75)) return { kind, path: rng.pick(empty) };
        const nonEmpty = this.model.paths('dir').filter((d) => d !== '' && this.model.children(d).length > 0);
        const choice = rng.weighted<'nonEmpty' | 'file' | 'missing' | 'underFile'>([
          ['nonEmpty', nonEmpty.length > 0 ? 3 : 0],
          ['file', 1],
          ['missing', 1],
          ['underFile', 1],
        ]);
        const path = choice === 'nonEmpty' ? rng.pick(nonEmpty) : this.failingTarget([choice]);
        return path === undefined ? undefined : { kind, path };
      }
      case 'unlink': {
        const path = fail ? this.failingTarget(['dir', 'missing']) : this.pickFile();
        return path === undefined ? undefined : { kind, path };
      }
      case 'overwrite':
      case 'append': {
        const path = fail ? this.failingTarget(['dir']) : this.pickFile();
        return path === undefined ? undefined : { kind, path, ...this.payload() };
      }
      case 'rename': {
        const from = fail ? this.failingTarget(['missing']) : this.pickFile();
        if (from === undefined) return undefined;
        return { kind, from, to: this.freshName(this.pickDir()) };
      }
      case 'pause':
        return { kind, ms: rng.pick([300, 1000, 2500]) };
      case 'refusedUnlink': {
        const path = this.pickFile();
        return path === undefined ? undefined : { kind: 'unlink', path };
      }
      case 'refusedOverwrite': {
        const path = this.pickFile();
        return path === undefined ? undefined : { kind: 'overwrite', path, ...this.payload() };
      }
      case 'refusedAppend': {
        const path = this.pickFile();
        return path === undefined ? undefined : { kind: 'append', path, ...this.payload() };
      }
      case 'refusedRename': {
        const from = this.pickFile();
        return from === undefined ? undefined : { kind: 'rename', from, to: this.freshName(this.pickDir()) };
      }
    }
  }

  /** A directory (the root included), no deeper than `maxDepth` components. */
  private pickDir(maxDepth = this.maxDepth - 1): string {
    const dirs = this.model.paths('dir').filter((d) => depthOf(d) <= maxDepth);
    return this.rng.pick(dirs);
  }

  private pickFile(): string | undefined {
    const files = this.model.paths('file');
    return files.length === 0 ? undefined : this.rng.pick(files);
  }

  /** A name that does not exist in `dir` yet. */
  private freshName(dir: string): string {
    const rng = this.rng;
    for (let i = 0; i < 8; i++) {
      const name = rng.chance(0.75) ? rng.pick(plainNames) : rng.pick(awkwardNames);
      const path = join(dir, name);
      if (!this.model.get(path)) return path;
    }
    for (;;) {
      const path = join(dir, `f${rng.uint32().toString(36)}`);
      if (!this.model.get(path)) return path;
    }
  }

  /** A path of one of the given shapes, chosen among those the tree offers now. */
  private failingTarget(
    shapes: readonly ('existing' | 'dir' | 'file' | 'missing' | 'missingParent' | 'underFile')[],
  ): string | undefined {
    const rng = this.rng;
    const files = this.model.paths('file');
    const dirs = this.model.paths('dir').filter((d) => d !== '');
    const options: string[] = [];
    for (const shape of shapes) {
      switch (shape) {
        case 'existing':
          if (files.length + dirs.length > 0) options.push(rng.pick([...files, ...dirs]));
          break;
        case 'dir':
          if (dirs.length > 0) options.push(rng.pick(dirs));
          break;
        case 'file':
          if (files.length > 0) options.push(rng.pick(files));
          break;
        case 'missing':
          options.push(this.freshName(this.pickDir()));
          break;
        case 'missingParent': {
          const missingDir = this.freshName(this.pickDir(this.maxDepth - 2));
          options.push(join(missingDir, rng.pick(plainNames)));
          break;
        }
        case 'underFile':
          if (files.length > 0) options.push(join(rng.pick(files), rng.pick(plainNames)));
          break;
      }
    }
    return options.length === 0 ? undefined : rng.pick(options);
  }

  private payload(): Payload {
    const rng = this.rng;
    const budget = Math.max(0, this.maxTreeBytes - this.model.totalFileBytes());
    let size = rng.weighted<() => number>([
      [() => 0, 8],
      [() => 1, 6],
      [() => rng.int(2, 4095), 22],
      [() => rng.int(1, 4) * 4 * KiB + rng.int(-1, 1), 20],
      [() => rng.int(4 * KiB + 2, 300 * KiB), 20],
      [() => rng.int(1, 2) * MiB + rng.int(-1, 1), 10],
      [() => rng.int(MiB + 2, Math.max(MiB + 2, this.maxFileBytes)), 10],
    ])();
    if (size > budget || size > this.maxFileBytes) size = rng.int(0, Math.min(budget, this.maxFileBytes, 4 * KiB));
    let chunk = rng.pick([Math.max(1, size), 4 * KiB, 64 * KiB, MiB, 1000, 128 * KiB + 7]);
    // Thousands of small write() calls cost seconds in a UML guest and the kernel merges them anyway.
    if (size / chunk > 64) chunk = rng.pick([Math.max(1, size), 64 * KiB, MiB, 128 * KiB + 7]);
    return { size, content: rng.uint32(), chunk };
  }

  /** A read range: inside the file, across 4 KiB / 1 MiB boundaries, at the end, or past it. */
  private range(size: number): { offset: number; length: number } {
    const rng = this.rng;
    const boundaries = [4 * KiB, 64 * KiB, MiB, 2 * MiB].filter((b) => b < size);
    const offset = rng.weighted<() => number>([
      [() => 0, 3],
      [() => rng.int(0, Math.max(0, size)), 5],
      [() => (boundaries.length > 0 ? rng.pick(boundaries) + rng.int(-3, 3) : 0), 3],
      [() => Math.max(0, size - rng.int(0, 10)), 2],
      [() => size + rng.int(0, 5000), 1],
    ])();
    const length = rng.weighted<() => number>([
      [() => 1, 1],
      [() => 4 * KiB, 2],
      [() => rng.int(1, 256 * KiB), 4],
      [() => Math.max(1, size - offset), 2],
      [() => rng.int(MiB - 100, MiB + 100), 1],
    ])();
    return { offset: Math.max(0, offset), length: Math.max(1, length) };
  }
}
