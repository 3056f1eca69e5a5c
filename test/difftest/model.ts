// The generator's picture of the tree: which paths exist, as what, and how big files are. It predicts
// what Linux does with each operation on an ordinary local file system (success or the errno), so
// the generator can aim at both valid and deliberately failing operations, and the runner can tell a
// generator bug (the local tree disagrees with the prediction) from a server bug (the mount disagrees
// with the local tree).
import type { Op } from './ops.js';

export type ModelNode = { kind: 'dir' } | { kind: 'file'; size: number };

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export function depthOf(path: string): number {
  return path === '' ? 0 : path.split('/').length;
}

/** True when `a` is `b`, or an ancestor or descendant of it. */
export function related(a: string, b: string): boolean {
  if (a === b || a === '' || b === '') return true;
  return a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

export class TreeModel {
  private readonly nodes = new Map<string, ModelNode>([['', { kind: 'dir' }]]);

  get(path: string): ModelNode | undefined {
    return this.nodes.get(path);
  }

  paths(kind?: ModelNode['kind']): string[] {
    const out: string[] = [];
    for (const [path, node] of this.nodes) if (kind === undefined || node.kind === kind) out.push(path);
    return out.sort();
  }

  children(dir: string): string[] {
    const out: string[] = [];
    for (const path of this.nodes.keys()) if (path !== '' && parentOf(path) === dir) out.push(path);
    return out.sort();
  }

  totalFileBytes(): number {
    let sum = 0;
    for (const node of this.nodes.values()) if (node.kind === 'file') sum += node.size;
    return sum;
  }

  /**
   * Why the directory that would hold `path` cannot be reached: ENOENT when a component is missing,
   * ENOTDIR when one is a file; undefined when the parent is a directory.
   */
  private parentProblem(path: string): string | undefined {
    const parts = path.split('/');
    let at = '';
    for (let i = 0; i < parts.length - 1; i++) {
      at = join(at, parts[i]!);
      const node = this.nodes.get(at);
      if (!node) return 'ENOENT';
      if (node.kind === 'file') return 'ENOTDIR';
    }
    return undefined;
  }

  /** lookup(2) of a whole path: the node, or the errno. */
  private resolve(path: string): ModelNode | string {
    if (path === '') return this.nodes.get('')!;
    return this.parentProblem(path) ?? this.nodes.get(path) ?? 'ENOENT';
  }

  /** What Linux answers for `op` on a local file system in this state. */
  predict(op: Op): 'ok' | string {
    switch (op.kind) {
      case 'pause':
        return 'ok';
      case 'create': {
        const problem = this.parentProblem(op.path);
        if (problem) return problem;
        const node = this.nodes.get(op.path);
        if (!node) return 'ok';
        if (op.exclusive) return 'EEXIST';
        return node.kind === 'dir' ? 'EISDIR' : 'ok';
      }
      case 'overwrite':
      case 'append': {
        const node = this.resolve(op.path);
        if (typeof node === 'string') return op.kind === 'append' && node === 'ENOENT' ? 'ok' : node;
        return node.kind === 'dir' ? 'EISDIR' : 'ok';
      }
      case 'readWhole':
      case 'readRange': {
        const node = this.resolve(op.path);
        if (typeof node === 'string') return node;
        return node.kind === 'dir' ? 'EISDIR' : 'ok';
      }
      case 'stat': {
        const node = this.resolve(op.path);
        return typeof node === 'string' ? node : 'ok';
      }
      case 'readdir': {
        const node = this.resolve(op.path);
        if (typeof node === 'string') return node;
        return node.kind === 'file' ? 'ENOTDIR' : 'ok';
      }
      case 'mkdir': {
        if (op.recursive) {
          // Node's recursive mkdir: components are created as needed; a file on the way is ENOTDIR,
          // a file at the end EEXIST, an existing directory is fine.
          const parts = op.path.split('/');
          let at = '';
          for (let i = 0; i < parts.length; i++) {
            at = join(at, parts[i]!);
            const node = this.nodes.get(at);
            if (!node) return 'ok';
            if (node.kind === 'file') return i === parts.length - 1 ? 'EEXIST' : 'ENOTDIR';
          }
          return 'ok';
        }
        const problem = this.parentProblem(op.path);
        if (problem) return problem;
        return this.nodes.has(op.path) ? 'EEXIST' : 'ok';
      }
      case 'rmdir': {
        const node = this.resolve(op.path);
        if (typeof node === 'string') return node;
        if (node.kind === 'file') return 'ENOTDIR';
        return this.children(op.path).length > 0 ? 'ENOTEMPTY' : 'ok';
      }
      case 'unlink': {
        const node = this.resolve(op.path);
        if (typeof node === 'string') return node;
        return node.kind === 'dir' ? 'EISDIR' : 'ok';
      }
      case 'rename': {
        const from = this.resolve(op.from);
        if (typeof from === 'string') return from;
        const toProblem = this.parentProblem(op.to);
        if (toProblem) return toProblem;
        const to = this.nodes.get(op.to);
        if (from.kind === 'file' && to?.kind === 'dir') return 'EISDIR';
        if (from.kind === 'dir' && to?.kind === 'file') return 'ENOTDIR';
        if (from.kind === 'dir' && to?.kind === 'dir' && this.children(op.to).length > 0) return 'ENOTEMPTY';
        if (from.kind === 'dir' && related(op.from, op.to) && op.from !== op.to && op.to.startsWith(`${op.from}/`)) {
          return 'EINVAL';
        }
        return 'ok';
      }
    }
  }

  /** Removes a directory and everything below it ('' empties the root). */
  removeSubtree(path: string): void {
    for (const p of [...this.nodes.keys()]) {
      if (p !== '' && (p === path || path === '' || p.startsWith(`${path}/`))) this.nodes.delete(p);
    }
  }

  /** Applies an operation that succeeded (predict returned 'ok'). */
  apply(op: Op): void {
    switch (op.kind) {
      case 'create':
      case 'overwrite':
        this.nodes.set(op.path, { kind: 'file', size: op.size });
        return;
      case 'append': {
        const node = this.nodes.get(op.path);
        const before = node?.kind === 'file' ? node.size : 0;
        this.nodes.set(op.path, { kind: 'file', size: before + op.size });
        return;
      }
      case 'mkdir': {
        const parts = op.path.split('/');
        let at = '';
        for (const part of parts) {
          at = join(at, part);
          if (!this.nodes.has(at)) this.nodes.set(at, { kind: 'dir' });
        }
        return;
      }
      case 'rmdir':
      case 'unlink':
        this.nodes.delete(op.path);
        return;
      case 'rename': {
        if (op.from === op.to) return;
        const moved: [string, ModelNode][] = [];
        for (const [path, node] of this.nodes) {
          if (path === op.from || path.startsWith(`${op.from}/`)) moved.push([path, node]);
        }
        for (const [path] of moved) this.nodes.delete(path);
        this.nodes.delete(op.to);
        for (const [path, node] of moved) this.nodes.set(op.to + path.slice(op.from.length), node);
        return;
      }
      case 'readWhole':
      case 'readRange':
      case 'stat':
      case 'readdir':
      case 'pause':
        return;
    }
  }
}
