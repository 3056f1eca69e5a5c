// File-system attribute values ↔ their RFC 1813 wire shapes: fattr3, post_op_attr, wcc_data, and
// sattr3 into the file system's SetAttributes.

import { Ftype3, TimeHow } from '../../protocol/nfs3/constants.js';
import type { Fattr3, PostOpAttr, PreOpAttr, Sattr3, WccData } from '../../protocol/nfs3/attributes.js';
import type { NfsTime3 } from '../../protocol/nfs3/types.js';
import type { FileAttributes, FsTime } from '../fs/attributes.js';
import { fsError } from '../fs/errors.js';
import type { SetAttributes } from '../fs/file-system.js';

export function toNfsTime(t: FsTime): NfsTime3 {
  return { seconds: t.sec >>> 0, nseconds: t.nsec >>> 0 };
}

export function fromNfsTime(t: NfsTime3): FsTime {
  return { sec: t.seconds, nsec: t.nseconds };
}

const NO_DEVICE = Object.freeze({ specdata1: 0, specdata2: 0 });

/** fattr3 of a file-system object; `fsid` is the export's id. */
export function toFattr3(a: FileAttributes, fsid: number): Fattr3 {
  return {
    type: a.type === 'dir' ? Ftype3.NF3DIR : Ftype3.NF3REG,
    mode: a.mode,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    size: BigInt(a.size),
    used: BigInt(a.used),
    rdev: NO_DEVICE,
    fsid: BigInt(fsid >>> 0),
    fileid: a.fileid,
    atime: toNfsTime(a.atime),
    mtime: toNfsTime(a.mtime),
    ctime: toNfsTime(a.ctime),
  };
}

export function postOp(a: FileAttributes | undefined, fsid: number): PostOpAttr {
  return a === undefined ? undefined : toFattr3(a, fsid);
}

/** The wcc_attr part of attributes taken before a change. */
export function preOp(a: FileAttributes | undefined): PreOpAttr {
  return a === undefined ? undefined : { size: BigInt(a.size), mtime: toNfsTime(a.mtime), ctime: toNfsTime(a.ctime) };
}

export function wcc(before: FileAttributes | undefined, after: FileAttributes | undefined, fsid: number): WccData {
  return { before: preOp(before), after: postOp(after, fsid) };
}

/** A uint64 offset or size as a JS number; past 2^53 nothing in S3 can be (5 TiB objects), so FBIG. */
export function toSafeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fsError('FBIG', `${what} ${v} is beyond any object`);
  return Number(v);
}

/** sattr3 → the fields to set. */
export function toSetAttributes(s: Sattr3): SetAttributes {
  const out: SetAttributes = {};
  if (s.mode !== undefined) out.mode = s.mode & 0o7777;
  if (s.uid !== undefined) out.uid = s.uid;
  if (s.gid !== undefined) out.gid = s.gid;
  if (s.size !== undefined) out.size = toSafeNumber(s.size, 'size');
  if (s.atime.how === TimeHow.SET_TO_SERVER_TIME) out.atime = 'server';
  else if (s.atime.how === TimeHow.SET_TO_CLIENT_TIME) out.atime = fromNfsTime(s.atime.time);
  if (s.mtime.how === TimeHow.SET_TO_SERVER_TIME) out.mtime = 'server';
  else if (s.mtime.how === TimeHow.SET_TO_CLIENT_TIME) out.mtime = fromNfsTime(s.mtime.time);
  return out;
}

/** cookieverf3 / writeverf3 (8 bytes) ↔ the file system's 64-bit verifier. */
export function verifierBytes(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, v));
  return b;
}

export function verifierValue(b: Buffer): bigint {
  return b.readBigUInt64BE(0);
}
