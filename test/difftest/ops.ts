// The operations the difftest applies to both trees, the server features they depend on, and how an
// operation is written in reports. Paths are relative to the tree's root, '/'-separated; '' is the root.

/** A file's content: `size` pseudo-random bytes derived from `content` (see content.ts). */
export interface Payload {
  size: number;
  content: number;
  /** Bytes per write() call; the file is still written front to back in one open. */
  chunk: number;
}

export type Op =
  /** open(O_CREAT|O_WRONLY, plus O_EXCL or O_TRUNC), write sequentially, close. */
  | ({ kind: 'create'; path: string; exclusive: boolean } & Payload)
  /** open(O_WRONLY|O_TRUNC) of an existing file, write it anew, close. */
  | ({ kind: 'overwrite'; path: string } & Payload)
  /** open(O_WRONLY|O_APPEND), write, close. */
  | ({ kind: 'append'; path: string } & Payload)
  | { kind: 'readWhole'; path: string }
  | { kind: 'readRange'; path: string; offset: number; length: number }
  | { kind: 'stat'; path: string }
  | { kind: 'readdir'; path: string }
  | { kind: 'mkdir'; path: string; recursive: boolean }
  | { kind: 'rmdir'; path: string }
  | { kind: 'unlink'; path: string }
  | { kind: 'rename'; from: string; to: string }
  /** Lets time pass (publish delays run out) between operations. */
  | { kind: 'pause'; ms: number };

export type OpKind = Op['kind'];

/**
 * What the generator's model predicts for the local (POSIX) tree: success or an errno code.
 * `refused`: s3nfs deliberately refuses this operation because a feature flag is off, so it goes to
 * the mount first and must fail there with a refusal errno and change nothing; the reference tree is
 * left alone. 'always' (rename: not supported at all); 'unless-staged' (unlink, overwrite, append: refused for
 * objects in S3, but allowed for a file the server still stages — not yet published, or published
 * within the last minute — which the runner cannot tell apart, so success is accepted too, and then
 * the operation is applied to the reference tree as well).
 */
export interface PlannedOp {
  op: Op;
  expect: 'ok' | string;
  refused?: 'always' | 'unless-staged';
}

/** Server features the generator may rely on; they mirror the server's flags. */
export interface Features {
  /** s3nfs serve --allow-delete: unlink works. */
  allowDelete: boolean;
  /** s3nfs serve --allow-overwrite: open(O_TRUNC) of an existing file works. */
  allowOverwrite: boolean;
  /** The server supports appending to an existing file. */
  append: boolean;
  /** The server supports renaming a file. */
  rename: boolean;
  /** Generate refused operations (unlink, overwrite, rename while their feature is off). */
  refusals: boolean;
  /**
   * Also appends while `append` is off, as 'unless-staged' refusals (s3nfs appends to files it
   * published in the last minute, refuses others at write-back, reported by close()).
   */
  refusedAppends: boolean;
  /** Generate pauses (for servers with a short publish delay). */
  pauses: boolean;
  /**
   * The server follows S3's rule that a directory exists while keys lie under it: a directory that
   * held files (so possibly published ones) may vanish when the operation that removes its last file
   * runs (documented in docs/semantics.md, "Keys and paths" and "Directories"). Accepted, and then
   * mirrored in the local tree.
   */
  vanishingDirs: boolean;
}

export const defaultFeatures: Features = {
  allowDelete: false,
  allowOverwrite: false,
  append: false,
  rename: false,
  refusals: true,
  refusedAppends: false,
  pauses: false,
  vanishingDirs: false,
};

const flagNames: Record<string, (f: Features) => void> = {
  'allow-delete': (f) => (f.allowDelete = true),
  'allow-overwrite': (f) => (f.allowOverwrite = true),
  append: (f) => (f.append = true),
  rename: (f) => (f.rename = true),
  pauses: (f) => (f.pauses = true),
  'no-refusals': (f) => (f.refusals = false),
  'refused-appends': (f) => (f.refusedAppends = true),
  'vanishing-dirs': (f) => (f.vanishingDirs = true),
};

/** Features from a comma-separated flag list such as "allow-delete,allow-overwrite". */
export function parseFeatures(list: string): Features {
  const features = { ...defaultFeatures };
  for (const raw of list.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const set = flagNames[name];
    if (!set) throw new Error(`unknown flag "${name}" (known: ${Object.keys(flagNames).join(', ')})`);
    set(features);
  }
  return features;
}

export function featureFlags(f: Features): string[] {
  const flags: string[] = [];
  if (f.allowDelete) flags.push('allow-delete');
  if (f.allowOverwrite) flags.push('allow-overwrite');
  if (f.append) flags.push('append');
  if (f.rename) flags.push('rename');
  if (f.pauses) flags.push('pauses');
  if (!f.refusals) flags.push('no-refusals');
  if (f.refusedAppends) flags.push('refused-appends');
  if (f.vanishingDirs) flags.push('vanishing-dirs');
  return flags;
}

/** Paths an operation names (for slicing a failing sequence down to what matters). */
export function opPaths(op: Op): string[] {
  switch (op.kind) {
    case 'rename':
      return [op.from, op.to];
    case 'pause':
      return [];
    default:
      return [op.path];
  }
}

const show = (p: string): string => JSON.stringify(p === '' ? '.' : p);

function payload(p: Payload): string {
  return `size=${p.size} content=${p.content} chunk=${p.chunk}`;
}

/** One line, roughly what a shell user would type, with everything needed to replay it. */
export function describeOp(op: Op): string {
  switch (op.kind) {
    case 'create':
      return `create${op.exclusive ? ' (O_EXCL)' : ' (O_TRUNC)'} ${show(op.path)} ${payload(op)}`;
    case 'overwrite':
      return `overwrite (O_TRUNC) ${show(op.path)} ${payload(op)}`;
    case 'append':
      return `append ${show(op.path)} ${payload(op)}`;
    case 'readWhole':
      return `read ${show(op.path)}`;
    case 'readRange':
      return `pread ${show(op.path)} offset=${op.offset} length=${op.length}`;
    case 'stat':
      return `stat ${show(op.path)}`;
    case 'readdir':
      return `readdir ${show(op.path)}`;
    case 'mkdir':
      return `mkdir${op.recursive ? ' -p' : ''} ${show(op.path)}`;
    case 'rmdir':
      return `rmdir ${show(op.path)}`;
    case 'unlink':
      return `unlink ${show(op.path)}`;
    case 'rename':
      return `rename ${show(op.from)} ${show(op.to)}`;
    case 'pause':
      return `pause ${op.ms}ms`;
  }
}

export function describePlanned(p: PlannedOp): string {
  const expectation =
    p.refused === 'always'
      ? 'refused on the mount only'
      : p.refused === 'unless-staged'
        ? 'refused on the mount, or done on both if the file is still staged'
        : p.expect;
  return `${describeOp(p.op)}  [expect ${expectation}]`;
}
