// File attributes (RFC 1813 section 2.6): fattr3 and the wrappers replies carry it in
// (post_op_attr, wcc_data), and sattr3, the attributes a client asks to set.

import { XdrError, getUint32, getUint64, optional, putUint32, putUint64, struct, uint32, uint64, variant } from '../xdr.js';
import type { Codec, Infer } from '../xdr.js';
import { TimeHow } from './constants.js';
import type { Ftype3 } from './constants.js';
import { nfsFh3, nfstime3 } from './types.js';
import type { NfsTime3, SpecData3 } from './types.js';

export interface Fattr3 {
  type: Ftype3;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: bigint;
  used: bigint;
  rdev: SpecData3;
  fsid: bigint;
  fileid: bigint;
  atime: NfsTime3;
  mtime: NfsTime3;
  ctime: NfsTime3;
}

/** fattr3 is always 84 bytes on the wire. */
export const FATTR3_SIZE = 84;

/**
 * fattr3 goes into nearly every reply (and every READDIRPLUS entry), so it is encoded and
 * decoded by hand with one bounds check, rather than field by field through the combinators
 * (scripts/bench/fattr3.ts measures the difference).
 */
export const fattr3: Codec<Fattr3> = {
  encode(w, a) {
    const at = w.reserve(FATTR3_SIZE);
    const b = w.chunk;
    putUint32(b, at, a.type);
    putUint32(b, at + 4, a.mode);
    putUint32(b, at + 8, a.nlink);
    putUint32(b, at + 12, a.uid);
    putUint32(b, at + 16, a.gid);
    putUint64(b, at + 20, a.size);
    putUint64(b, at + 28, a.used);
    putUint32(b, at + 36, a.rdev.specdata1);
    putUint32(b, at + 40, a.rdev.specdata2);
    putUint64(b, at + 44, a.fsid);
    putUint64(b, at + 52, a.fileid);
    putUint32(b, at + 60, a.atime.seconds);
    putUint32(b, at + 64, a.atime.nseconds);
    putUint32(b, at + 68, a.mtime.seconds);
    putUint32(b, at + 72, a.mtime.nseconds);
    putUint32(b, at + 76, a.ctime.seconds);
    putUint32(b, at + 80, a.ctime.nseconds);
  },
  decode(r) {
    const at = r.take(FATTR3_SIZE);
    const b = r.buf;
    const type = getUint32(b, at);
    if (type < 1 || type > 7) throw XdrError.decoding(`bad ftype3 value ${type}`);
    return {
      type: type as Ftype3,
      mode: getUint32(b, at + 4),
      nlink: getUint32(b, at + 8),
      uid: getUint32(b, at + 12),
      gid: getUint32(b, at + 16),
      size: getUint64(b, at + 20),
      used: getUint64(b, at + 28),
      rdev: { specdata1: getUint32(b, at + 36), specdata2: getUint32(b, at + 40) },
      fsid: getUint64(b, at + 44),
      fileid: getUint64(b, at + 52),
      atime: { seconds: getUint32(b, at + 60), nseconds: getUint32(b, at + 64) },
      mtime: { seconds: getUint32(b, at + 68), nseconds: getUint32(b, at + 72) },
      ctime: { seconds: getUint32(b, at + 76), nseconds: getUint32(b, at + 80) },
    };
  },
};

/** post_op_attr: attributes if the server has them (`undefined` when not). */
export const postOpAttr: Codec<Fattr3 | undefined> = optional(fattr3);
export type PostOpAttr = Fattr3 | undefined;

/** wcc_attr: the attributes a client checks its cache against before an operation. */
export const wccAttr = struct({ size: uint64, mtime: nfstime3, ctime: nfstime3 });
export type WccAttr = Infer<typeof wccAttr>;

export const preOpAttr: Codec<WccAttr | undefined> = optional(wccAttr);
export type PreOpAttr = WccAttr | undefined;

/** wcc_data: weak cache consistency, the attributes before and after a modifying operation. */
export const wccData = struct({ before: preOpAttr, after: postOpAttr });
export type WccData = Infer<typeof wccData>;

/** wcc_data with nothing known, for failures found before the object was looked at. */
export function emptyWcc(): WccData {
  return { before: undefined, after: undefined };
}

/** post_op_fh3: a handle if the server returns one. */
export const postOpFh3: Codec<Buffer | undefined> = optional(nfsFh3);

// ---------------------------------------------------------------------------------------------
// sattr3: each field is `union switch (bool set_it)`, which XDR encodes exactly like an optional;
// the two times switch on time_how instead.

/** set_atime / set_mtime. */
export const setTime = variant('time_how', 'how', {
  [TimeHow.DONT_CHANGE]: {},
  [TimeHow.SET_TO_SERVER_TIME]: {},
  [TimeHow.SET_TO_CLIENT_TIME]: { time: nfstime3 },
});
export type SetTime = Infer<typeof setTime>;

export const sattr3 = struct({
  mode: optional(uint32),
  uid: optional(uint32),
  gid: optional(uint32),
  size: optional(uint64),
  atime: setTime,
  mtime: setTime,
});
export type Sattr3 = Infer<typeof sattr3>;

/** sattr3 that changes nothing. */
export function emptySattr3(): Sattr3 {
  return {
    mode: undefined,
    uid: undefined,
    gid: undefined,
    size: undefined,
    atime: { how: TimeHow.DONT_CHANGE },
    mtime: { how: TimeHow.DONT_CHANGE },
  };
}

/** sattrguard3 (SETATTR): the ctime the object must still have, if the client asks for the check. */
export const sattrguard3: Codec<NfsTime3 | undefined> = optional(nfstime3);
