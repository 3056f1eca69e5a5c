// The reference model of ARCHITECTURE.md §2: what tree a set of S3 keys plus local state should
// look like. Written from the rules alone, as simply as possible, sharing no code with src/fs:
// tests compare what the file system serves against `materialize`.

export interface ModelFile {
  kind: 'file';
  origin: 'remote' | 'local';
  size: number;
  /** The object key (remote files). */
  key?: string;
}

export interface ModelDir {
  kind: 'dir';
  children: Map<string, ModelNode>;
}

export type ModelNode = ModelFile | ModelDir;

export interface RemoteObject {
  size: number;
}

/** A name can appear in the tree when all of these hold. */
export function modelNameIsValid(name: string): boolean {
  if (name.length === 0 || name === '.' || name === '..') return false;
  if (name.includes('\0') || name.includes('/')) return false;
  const bytes = Buffer.from(name, 'utf8');
  // Lone surrogates do not survive a UTF-8 round trip.
  if (bytes.toString('utf8') !== name) return false;
  return bytes.length <= 255;
}

function emptyDir(): ModelDir {
  return { kind: 'dir', children: new Map() };
}

/** Makes `name` a directory inside `parent` (a directory shadows a file) and returns it. */
function ensureDir(parent: ModelDir, name: string): ModelDir {
  const existing = parent.children.get(name);
  if (existing?.kind === 'dir') return existing;
  const dir = emptyDir();
  parent.children.set(name, dir);
  return dir;
}

/**
 * The tree a client should see.
 * - remote: every key in the bucket (keys outside `prefix` are ignored);
 * - localDirs: paths of directories made locally (with their ancestors);
 * - localFiles: paths of files being written locally, with their sizes (parents are local dirs).
 */
export function materialize(
  remote: ReadonlyMap<string, RemoteObject>,
  localDirs: Iterable<string>,
  localFiles: ReadonlyMap<string, number>,
  prefix = '',
): ModelDir {
  const root = emptyDir();
  for (const [key, object] of remote) {
    if (!key.startsWith(prefix)) continue;
    const parts = key.slice(prefix.length).split('/');
    let dir = root;
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      if (!modelNameIsValid(name)) break; // hidden from here on
      if (i < parts.length - 1) {
        dir = ensureDir(dir, name);
      } else if (!dir.children.has(name)) {
        dir.children.set(name, { kind: 'file', origin: 'remote', size: object.size, key });
      }
    }
  }
  for (const path of localDirs) {
    let dir = root;
    for (const name of path.split('/')) dir = ensureDir(dir, name);
  }
  for (const [path, size] of localFiles) {
    const parts = path.split('/');
    const name = parts.pop()!;
    let dir = root;
    for (const p of parts) dir = ensureDir(dir, p);
    if (dir.children.get(name)?.kind !== 'dir') dir.children.set(name, { kind: 'file', origin: 'local', size });
  }
  return root;
}

/** Every path in the tree with its kind and (files) size, e.g. { 'a': 'dir', 'a/b': 'file:3' }. */
export function flatten(root: ModelDir): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: ModelDir, at: string): void => {
    for (const [name, node] of dir.children) {
      const path = at === '' ? name : `${at}/${name}`;
      out.set(path, node.kind === 'dir' ? 'dir' : `file:${node.size}`);
      if (node.kind === 'dir') walk(node, path);
    }
  };
  walk(root, '');
  return out;
}

/** The node at `path`, if the tree has one. */
export function nodeAt(root: ModelDir, path: string): ModelNode | undefined {
  if (path === '') return root;
  let node: ModelNode = root;
  for (const name of path.split('/')) {
    if (node.kind !== 'dir') return undefined;
    const next: ModelNode | undefined = node.children.get(name);
    if (!next) return undefined;
    node = next;
  }
  return node;
}
