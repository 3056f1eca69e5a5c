// The tree an export should show for a set of S3 keys (ARCHITECTURE.md §2), computed the simplest
// possible way, independently of src/fs: e2e tests compare what the kernel client lists with it.
//
//   - keys split on '/'; every proper prefix is a directory (no directory objects needed);
//   - a component that is empty, '.', '..', holds NUL, is not well-formed Unicode or is longer than
//     255 UTF-8 bytes hides the key from that component on (its valid ancestors still appear);
//   - a key ending in '/' makes only the directory;
//   - a directory shadows a file of the same name.

export type ModelEntry = { kind: 'dir' } | { kind: 'file'; key: string; size: number };

/** Path inside the export ('a/b', never '' or a leading '/') → entry. The root is not included. */
export type ModelTree = Map<string, ModelEntry>;

export interface ModelObject {
  key: string;
  size: number;
}

const NAME_MAX_BYTES = 255;

export function isValidName(name: string): boolean {
  if (name === '' || name === '.' || name === '..' || name.includes('\0')) return false;
  const utf8 = Buffer.from(name, 'utf8');
  // A lone surrogate cannot be encoded: it comes back as U+FFFD.
  return utf8.toString('utf8') === name && utf8.length <= NAME_MAX_BYTES;
}

/** The tree under `prefix` ('' for the whole bucket, else ending in '/'). */
export function expectedTree(objects: readonly ModelObject[], prefix = ''): ModelTree {
  const dirs = new Set<string>();
  const files = new Map<string, ModelEntry>();
  for (const { key, size } of objects) {
    if (!key.startsWith(prefix)) continue;
    const parts = key.slice(prefix.length).split('/');
    let path = '';
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      if (!isValidName(name)) break;
      path = path === '' ? name : `${path}/${name}`;
      if (i < parts.length - 1) dirs.add(path);
      else files.set(path, { kind: 'file', key, size });
    }
  }
  const tree: ModelTree = new Map();
  for (const [path, entry] of files) if (!dirs.has(path)) tree.set(path, entry);
  for (const path of dirs) tree.set(path, { kind: 'dir' });
  return tree;
}

/** The direct children of `dir` ('' = root) in a tree, by name. */
export function childrenOf(tree: ModelTree, dir: string): Map<string, ModelEntry> {
  const out = new Map<string, ModelEntry>();
  const start = dir === '' ? '' : `${dir}/`;
  for (const [path, entry] of tree) {
    if (!path.startsWith(start)) continue;
    const rest = path.slice(start.length);
    if (rest !== '' && !rest.includes('/')) out.set(rest, entry);
  }
  return out;
}
