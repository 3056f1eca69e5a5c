// READDIR and READDIRPLUS (RFC 1813 sections 3.3.16, 3.3.17). Entries travel as XDR linked
// lists; the size functions give each entry's wire size so a server can fill a reply up to the
// client's count without encoding twice.

import { bool, list, struct, uint32, uint64 } from '../xdr.js';
import type { Infer } from '../xdr.js';
import { FATTR3_SIZE, postOpAttr, postOpFh3 } from './attributes.js';
import { NFS3_MAX_DIR_ENTRIES } from './constants.js';
import { cookieverf3, filename3, nfsFh3, nfsResult } from './types.js';

export const readdir3Args = struct({ dir: nfsFh3, cookie: uint64, cookieverf: cookieverf3, count: uint32 });
export type Readdir3Args = Infer<typeof readdir3Args>;

export const entry3 = struct({ fileid: uint64, name: filename3, cookie: uint64 });
export type Entry3 = Infer<typeof entry3>;
export const dirlist3 = struct({ entries: list(entry3, NFS3_MAX_DIR_ENTRIES), eof: bool });

const dirAttributesOnly = struct({ dirAttributes: postOpAttr });
const emptyDirAttributes = () => ({ dirAttributes: undefined });

export const readdir3Res = nfsResult(
  struct({ dirAttributes: postOpAttr, cookieverf: cookieverf3, reply: dirlist3 }),
  dirAttributesOnly,
  emptyDirAttributes,
);
export type Readdir3Res = Infer<typeof readdir3Res>;

export const readdirplus3Args = struct({
  dir: nfsFh3,
  cookie: uint64,
  cookieverf: cookieverf3,
  dircount: uint32,
  maxcount: uint32,
});
export type Readdirplus3Args = Infer<typeof readdirplus3Args>;

export const entryplus3 = struct({
  fileid: uint64,
  name: filename3,
  cookie: uint64,
  nameAttributes: postOpAttr,
  nameHandle: postOpFh3,
});
export type Entryplus3 = Infer<typeof entryplus3>;
export const dirlistplus3 = struct({ entries: list(entryplus3, NFS3_MAX_DIR_ENTRIES), eof: bool });

export const readdirplus3Res = nfsResult(
  struct({ dirAttributes: postOpAttr, cookieverf: cookieverf3, reply: dirlistplus3 }),
  dirAttributesOnly,
  emptyDirAttributes,
);
export type Readdirplus3Res = Infer<typeof readdirplus3Res>;

// ---------------------------------------------------------------------------------------------
// Wire sizes, in bytes, for fitting a reply into the client's count/maxcount.

const padded = (n: number) => (n + 3) & ~3;

/**
 * The successful READDIR/READDIRPLUS reply without entries: status, post_op_attr, cookieverf,
 * the list terminator and eof.
 */
export function readdirResOkBaseSize(hasDirAttributes: boolean): number {
  return 4 + 4 + (hasDirAttributes ? FATTR3_SIZE : 0) + 8 + 4 + 4;
}

/** One entry3 with its list marker; `nameBytes` is the UTF-8 length of the name. */
export function entry3Size(nameBytes: number): number {
  return 4 + 8 + 4 + padded(nameBytes) + 8;
}

/** One entryplus3 with its list marker; `handleBytes` undefined when no handle is returned. */
export function entryplus3Size(nameBytes: number, hasAttributes: boolean, handleBytes: number | undefined): number {
  return (
    entry3Size(nameBytes) + 4 + (hasAttributes ? FATTR3_SIZE : 0) + 4 + (handleBytes === undefined ? 0 : 4 + padded(handleBytes))
  );
}
