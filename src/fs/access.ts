// ACCESS: which of the asked-for rights the caller has, from the mode bits and the caller's
// AUTH_SYS identity, the way a local POSIX file system would decide.

import type { FileAttributes } from './attributes.js';

/** Rights a caller can ask about (the bit values of RFC 1813 ACCESS3_*, kept as plain numbers). */
export const Access = {
  READ: 0x01,
  LOOKUP: 0x02,
  MODIFY: 0x04,
  EXTEND: 0x08,
  DELETE: 0x10,
  EXECUTE: 0x20,
} as const;

export const ALL_ACCESS = 0x3f;
const WRITE_RIGHTS = Access.MODIFY | Access.EXTEND | Access.DELETE;

/** Who is asking (AUTH_SYS credentials). */
export interface Caller {
  uid: number;
  gid: number;
  /** Supplementary groups. */
  gids: readonly number[];
}

/**
 * The subset of `requested` that `caller` may do to the object with `attrs`. Root passes every
 * check except execution of a file no one may execute. On a read-only export, rights that change
 * things are never granted.
 */
export function grantedAccess(attrs: FileAttributes, caller: Caller, requested: number, readOnly: boolean): number {
  const isDir = attrs.type === 'dir';
  let granted: number;
  if (caller.uid === 0) {
    granted = Access.READ | Access.LOOKUP | WRITE_RIGHTS;
    if (isDir || (attrs.mode & 0o111) !== 0) granted |= Access.EXECUTE | Access.LOOKUP;
  } else {
    const bits = permissionTriple(attrs, caller);
    granted = 0;
    if (bits & 4) granted |= Access.READ;
    if (bits & 2) granted |= Access.MODIFY | Access.EXTEND | (isDir ? Access.DELETE : 0);
    if (bits & 1) granted |= isDir ? Access.LOOKUP : Access.EXECUTE;
  }
  // DELETE asks about removing entries from a directory; it means nothing for a file.
  if (!isDir) granted &= ~Access.DELETE;
  if (isDir) granted &= ~Access.EXECUTE;
  else granted &= ~Access.LOOKUP;
  if (readOnly) granted &= ~WRITE_RIGHTS;
  return granted & requested;
}

/** The rwx bits that apply to the caller: owner's, else group's, else everyone else's. */
function permissionTriple(attrs: FileAttributes, caller: Caller): number {
  if (caller.uid === attrs.uid) return (attrs.mode >> 6) & 7;
  if (caller.gid === attrs.gid || caller.gids.includes(attrs.gid)) return (attrs.mode >> 3) & 7;
  return attrs.mode & 7;
}
