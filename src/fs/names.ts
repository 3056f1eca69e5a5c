// How S3 keys become names and paths (ARCHITECTURE.md §2). Pure functions, no I/O.
//
// A *path* is where an entry sits inside the export: '' is the root, 'a/b' is b inside a. Every
// component of a path is a valid name. The export's *mount prefix* is '' (the whole bucket) or a
// key prefix ending in '/'. A file at path p is the object `prefix + p`; a directory at path p
// stands for every key under `prefix + p + '/'`.

import { isUtf8 } from 'node:buffer';

/** Longest name, in UTF-8 bytes, the Linux NFS client accepts in a READDIR entry (NFS3_MAXNAMLEN). */
export const NAME_MAX_BYTES = 255;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A name is valid when it is non-empty, not '.' or '..', has no '/' or NUL, is well-formed Unicode
 * (so it encodes to valid UTF-8) and fits in NAME_MAX_BYTES. A longer name would make the Linux
 * client reject the whole READDIR reply, so such keys are hidden like any other invalid name.
 */
export function isValidName(name: string): boolean {
  if (name === '' || name === '.' || name === '..') return false;
  if (name.includes('/') || name.includes('\0')) return false;
  if (LONE_SURROGATE.test(name)) return false;
  return name.length <= NAME_MAX_BYTES / 3 || Buffer.byteLength(name, 'utf8') <= NAME_MAX_BYTES;
}

/**
 * Why a name a client sent cannot name an entry, or undefined when it can. NAMETOOLONG for an
 * over-long name, NOENT-worthy 'invalid' for the rest (such a name can never exist here).
 */
export function nameProblem(name: string): 'toolong' | 'invalid' | undefined {
  if (isValidName(name)) return undefined;
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX_BYTES) return 'toolong';
  return 'invalid';
}

/** Decodes a name from the wire; undefined when the bytes are not valid UTF-8. */
export function nameFromBytes(bytes: Uint8Array): string | undefined {
  if (!isUtf8(bytes)) return undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** '' or a prefix ending in '/': 'photos' and 'photos/' both mean the keys under 'photos/'. */
export function normalizePrefix(prefix: string): string {
  if (prefix === '' || prefix === '/') return '';
  const trimmed = prefix.replace(/^\/+/, '');
  return trimmed.endsWith('/') ? trimmed : trimmed + '/';
}

export function childPath(dirPath: string, name: string): string {
  return dirPath === '' ? name : `${dirPath}/${name}`;
}

/** The directory holding `path` ('' for a top-level entry and for the root itself). */
export function parentPath(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut < 0 ? '' : path.slice(0, cut);
}

/** The last component of `path` ('' for the root). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The object key of the file at `path`. */
export function fileKey(prefix: string, path: string): string {
  return prefix + path;
}

/** The key prefix every key inside the directory at `path` starts with. */
export function dirKeyPrefix(prefix: string, path: string): string {
  return path === '' ? prefix : `${prefix}${path}/`;
}

/**
 * Compares two strings by Unicode code point, which for well-formed strings is the UTF-8 byte order
 * S3 lists keys in (JS `<` compares UTF-16 code units and disagrees above U+FFFF).
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    return codeUnitRank(x) - codeUnitRank(y);
  }
  return a.length - b.length;
}

/** Surrogates (U+D800..DFFF) start code points above U+FFFF, so they rank after U+E000..FFFF. */
function codeUnitRank(u: number): number {
  if (u < 0xd800) return u;
  if (u < 0xe000) return u + 0x2000;
  return u - 0x800;
}

/**
 * The order READDIR returns a directory in: by `name + '/'` in UTF-8 byte order. It is the order in
 * which a delimited S3 listing *finishes* with each name (a file `a` and a directory `a/` are both
 * settled once the listing passes `a/`), so a listing can be streamed out in this order while it is
 * still being paged in. `ls` sorts for itself; clients only need the order to be stable.
 */
export function compareDirectoryOrder(a: string, b: string): number {
  return compareSlashed(a, b, true);
}

/** Compares `name + '/'` with `key` in UTF-8 byte order, without building the string. */
export function compareNameSlashWithKey(name: string, key: string): number {
  return compareSlashed(name, key, false);
}

const SLASH = 0x2f;

function compareSlashed(a: string, b: string, bSlashed: boolean): number {
  const aLength = a.length + 1;
  const bLength = b.length + (bSlashed ? 1 : 0);
  const n = Math.min(aLength, bLength);
  for (let i = 0; i < n; i++) {
    const x = i < a.length ? a.charCodeAt(i) : SLASH;
    const y = i < b.length ? b.charCodeAt(i) : SLASH;
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y);
  }
  return aLength - bLength;
}
