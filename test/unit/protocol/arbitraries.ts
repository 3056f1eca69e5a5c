// fast-check arbitraries for every wire type, written once; per-procedure argument and result
// arbitraries are derived from them and keyed like the procedure tables ("nfs/READ").

import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import {
  CreateMode3,
  Ftype3,
  NFS3_FHSIZE,
  NfsStat3,
  StableHow,
  TimeHow,
} from '../../../protocol/nfs3/constants.js';
import type { NfsErrorStat3 } from '../../../protocol/nfs3/constants.js';
import type { Fattr3, Sattr3, SetTime, WccAttr, WccData } from '../../../protocol/nfs3/attributes.js';
import type { NfsResult, NfsTime3 } from '../../../protocol/nfs3/types.js';
import type { CreateHow3, MknodData3 } from '../../../protocol/nfs3/namespace.js';
import { MountStat3 } from '../../../protocol/mount.js';
import type { Mountres3 } from '../../../protocol/mount.js';

export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
export const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
export const bytes = (maxLength: number, minLength = 0): Arbitrary<Buffer> =>
  fc.uint8Array({ minLength, maxLength }).map((u) => Buffer.from(u));
export const fixedBytes = (n: number) => bytes(n, n);
/** Mostly printable ASCII, sometimes any Unicode scalar value (1 to 4 UTF-8 bytes). */
const codePoint = fc
  .oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff) },
  )
  .map((c) => String.fromCodePoint(c));
/** A UTF-8 string of at most `maxBytes` bytes. */
export const text = (maxBytes: number): Arbitrary<string> =>
  fc
    .string({ unit: codePoint, maxLength: Math.floor(maxBytes / 4) + 4 })
    .filter((s) => Buffer.byteLength(s) <= maxBytes);
const opt = <T>(a: Arbitrary<T>): Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

/** fast-check builds records without a prototype; decoders build plain objects. */
export function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plain);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = plain((v as Record<string, unknown>)[k]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// NFSv3 data types

export const fh = bytes(NFS3_FHSIZE);
export const filename = text(255);
export const path = text(1024);
export const verf8 = fixedBytes(8);
export const nfstime: Arbitrary<NfsTime3> = fc.record({ seconds: u32, nseconds: u32 });
export const ftype = fc.constantFrom(...Object.values(Ftype3));
export const fattr: Arbitrary<Fattr3> = fc.record({
  type: ftype,
  mode: u32,
  nlink: u32,
  uid: u32,
  gid: u32,
  size: u64,
  used: u64,
  rdev: fc.record({ specdata1: u32, specdata2: u32 }),
  fsid: u64,
  fileid: u64,
  atime: nfstime,
  mtime: nfstime,
  ctime: nfstime,
});
export const postOpAttr = opt(fattr);
export const wccAttr: Arbitrary<WccAttr> = fc.record({ size: u64, mtime: nfstime, ctime: nfstime });
export const wccData: Arbitrary<WccData> = fc.record({ before: opt(wccAttr), after: postOpAttr });
export const postOpFh = opt(fh);
export const setTime: Arbitrary<SetTime> = fc.oneof(
  fc.constant({ how: TimeHow.DONT_CHANGE }),
  fc.constant({ how: TimeHow.SET_TO_SERVER_TIME }),
  fc.record({ how: fc.constant(TimeHow.SET_TO_CLIENT_TIME), time: nfstime }),
);
export const sattr: Arbitrary<Sattr3> = fc.record({
  mode: opt(u32),
  uid: opt(u32),
  gid: opt(u32),
  size: opt(u64),
  atime: setTime,
  mtime: setTime,
});
export const diropargs = fc.record({ dir: fh, name: filename });
const errorStat = fc.constantFrom(
  ...(Object.values(NfsStat3).filter((s) => s !== NfsStat3.NFS3_OK) as NfsErrorStat3[]),
);

export function nfsResult<OK, FAIL>(ok: Arbitrary<OK>, fail: Arbitrary<FAIL>): Arbitrary<NfsResult<OK, FAIL>> {
  return fc.oneof(
    fc.record({ status: fc.constant(NfsStat3.NFS3_OK), resok: ok }),
    fc.record({ status: errorStat, resfail: fail }),
  );
}

const createhow: Arbitrary<CreateHow3> = fc.oneof(
  fc.record({ mode: fc.constantFrom(CreateMode3.UNCHECKED, CreateMode3.GUARDED), objAttributes: sattr }),
  fc.record({ mode: fc.constant(CreateMode3.EXCLUSIVE), verf: verf8 }),
);
const mknoddata: Arbitrary<MknodData3> = fc.oneof(
  fc.record({
    type: fc.constantFrom(Ftype3.NF3CHR, Ftype3.NF3BLK),
    device: fc.record({ devAttributes: sattr, spec: fc.record({ specdata1: u32, specdata2: u32 }) }),
  }),
  fc.record({ type: fc.constantFrom(Ftype3.NF3SOCK, Ftype3.NF3FIFO), pipeAttributes: sattr }),
  fc.record({ type: fc.constantFrom(Ftype3.NF3REG, Ftype3.NF3DIR, Ftype3.NF3LNK) }),
);
const newObjectRes = nfsResult(
  fc.record({ obj: postOpFh, objAttributes: postOpAttr, dirWcc: wccData }),
  fc.record({ dirWcc: wccData }),
);
const dirWccRes = nfsResult(fc.record({ dirWcc: wccData }), fc.record({ dirWcc: wccData }));
const objAttrs = fc.record({ objAttributes: postOpAttr });
/** Payloads around the writer's by-reference threshold (1 KiB) exercise both paths. */
const payload = bytes(3000);
const list = <T>(a: Arbitrary<T>) => fc.array(a, { maxLength: 8 });

export interface ProcedureArbitraries {
  args: Arbitrary<unknown>;
  res: Arbitrary<unknown>;
}

export const NFS3_ARBITRARIES: Record<string, ProcedureArbitraries> = {
  NULL: { args: fc.constant(undefined), res: fc.constant(undefined) },
  GETATTR: {
    args: fc.record({ object: fh }),
    res: nfsResult(fc.record({ objAttributes: fattr }), fc.constant(undefined)),
  },
  SETATTR: {
    args: fc.record({ object: fh, newAttributes: sattr, guard: opt(nfstime) }),
    res: nfsResult(fc.record({ objWcc: wccData }), fc.record({ objWcc: wccData })),
  },
  LOOKUP: {
    args: fc.record({ what: diropargs }),
    res: nfsResult(
      fc.record({ object: fh, objAttributes: postOpAttr, dirAttributes: postOpAttr }),
      fc.record({ dirAttributes: postOpAttr }),
    ),
  },
  ACCESS: {
    args: fc.record({ object: fh, access: u32 }),
    res: nfsResult(fc.record({ objAttributes: postOpAttr, access: u32 }), objAttrs),
  },
  READLINK: {
    args: fc.record({ symlink: fh }),
    res: nfsResult(
      fc.record({ symlinkAttributes: postOpAttr, data: path }),
      fc.record({ symlinkAttributes: postOpAttr }),
    ),
  },
  READ: {
    args: fc.record({ file: fh, offset: u64, count: u32 }),
    res: nfsResult(
      fc.record({ fileAttributes: postOpAttr, count: u32, eof: fc.boolean(), data: payload }),
      fc.record({ fileAttributes: postOpAttr }),
    ),
  },
  WRITE: {
    args: fc
      .record({ file: fh, offset: u64, stable: fc.constantFrom(...Object.values(StableHow)), data: payload })
      .map(({ file, offset, stable, data }) => ({ file, offset, count: data.length, stable, data })),
    res: nfsResult(
      fc.record({
        fileWcc: wccData,
        count: u32,
        committed: fc.constantFrom(...Object.values(StableHow)),
        verf: verf8,
      }),
      fc.record({ fileWcc: wccData }),
    ),
  },
  CREATE: { args: fc.record({ where: diropargs, how: createhow }), res: newObjectRes },
  MKDIR: { args: fc.record({ where: diropargs, attributes: sattr }), res: newObjectRes },
  SYMLINK: {
    args: fc.record({ where: diropargs, symlink: fc.record({ symlinkAttributes: sattr, symlinkData: path }) }),
    res: newObjectRes,
  },
  MKNOD: { args: fc.record({ where: diropargs, what: mknoddata }), res: newObjectRes },
  REMOVE: { args: fc.record({ object: diropargs }), res: dirWccRes },
  RMDIR: { args: fc.record({ object: diropargs }), res: dirWccRes },
  RENAME: {
    args: fc.record({ from: diropargs, to: diropargs }),
    res: nfsResult(
      fc.record({ fromdirWcc: wccData, todirWcc: wccData }),
      fc.record({ fromdirWcc: wccData, todirWcc: wccData }),
    ),
  },
  LINK: {
    args: fc.record({ file: fh, link: diropargs }),
    res: nfsResult(
      fc.record({ fileAttributes: postOpAttr, linkdirWcc: wccData }),
      fc.record({ fileAttributes: postOpAttr, linkdirWcc: wccData }),
    ),
  },
  READDIR: {
    args: fc.record({ dir: fh, cookie: u64, cookieverf: verf8, count: u32 }),
    res: nfsResult(
      fc.record({
        dirAttributes: postOpAttr,
        cookieverf: verf8,
        reply: fc.record({ entries: list(fc.record({ fileid: u64, name: filename, cookie: u64 })), eof: fc.boolean() }),
      }),
      fc.record({ dirAttributes: postOpAttr }),
    ),
  },
  READDIRPLUS: {
    args: fc.record({ dir: fh, cookie: u64, cookieverf: verf8, dircount: u32, maxcount: u32 }),
    res: nfsResult(
      fc.record({
        dirAttributes: postOpAttr,
        cookieverf: verf8,
        reply: fc.record({
          entries: list(
            fc.record({ fileid: u64, name: filename, cookie: u64, nameAttributes: postOpAttr, nameHandle: postOpFh }),
          ),
          eof: fc.boolean(),
        }),
      }),
      fc.record({ dirAttributes: postOpAttr }),
    ),
  },
  FSSTAT: {
    args: fc.record({ fsroot: fh }),
    res: nfsResult(
      fc.record({
        objAttributes: postOpAttr,
        tbytes: u64,
        fbytes: u64,
        abytes: u64,
        tfiles: u64,
        ffiles: u64,
        afiles: u64,
        invarsec: u32,
      }),
      objAttrs,
    ),
  },
  FSINFO: {
    args: fc.record({ fsroot: fh }),
    res: nfsResult(
      fc.record({
        objAttributes: postOpAttr,
        rtmax: u32,
        rtpref: u32,
        rtmult: u32,
        wtmax: u32,
        wtpref: u32,
        wtmult: u32,
        dtpref: u32,
        maxfilesize: u64,
        timeDelta: nfstime,
        properties: u32,
      }),
      objAttrs,
    ),
  },
  PATHCONF: {
    args: fc.record({ object: fh }),
    res: nfsResult(
      fc.record({
        objAttributes: postOpAttr,
        linkmax: u32,
        nameMax: u32,
        noTrunc: fc.boolean(),
        chownRestricted: fc.boolean(),
        caseInsensitive: fc.boolean(),
        casePreserving: fc.boolean(),
      }),
      objAttrs,
    ),
  },
  COMMIT: {
    args: fc.record({ file: fh, offset: u64, count: u32 }),
    res: nfsResult(fc.record({ fileWcc: wccData, verf: verf8 }), fc.record({ fileWcc: wccData })),
  },
};

// ---------------------------------------------------------------------------------------------
// MOUNT v3 and portmap v2

const dirpath = text(1024);
const mountName = text(255);
const mountres: Arbitrary<Mountres3> = fc.oneof(
  fc.record({
    status: fc.constant(MountStat3.MNT3_OK),
    mountinfo: fc.record({ fhandle: fh, authFlavors: fc.array(i32, { maxLength: 4 }) }),
  }),
  fc
    .constantFrom(...Object.values(MountStat3).filter((s) => s !== MountStat3.MNT3_OK))
    .map((status) => ({ status }) as Mountres3),
);

export const MOUNT3_ARBITRARIES: Record<string, ProcedureArbitraries> = {
  NULL: { args: fc.constant(undefined), res: fc.constant(undefined) },
  MNT: { args: dirpath, res: mountres },
  DUMP: { args: fc.constant(undefined), res: list(fc.record({ hostname: mountName, directory: dirpath })) },
  UMNT: { args: dirpath, res: fc.constant(undefined) },
  UMNTALL: { args: fc.constant(undefined), res: fc.constant(undefined) },
  EXPORT: { args: fc.constant(undefined), res: list(fc.record({ dir: dirpath, groups: list(mountName) })) },
};

const mapping = fc.record({ prog: u32, vers: u32, prot: u32, port: u32 });

export const PMAP2_ARBITRARIES: Record<string, ProcedureArbitraries> = {
  NULL: { args: fc.constant(undefined), res: fc.constant(undefined) },
  SET: { args: mapping, res: fc.boolean() },
  UNSET: { args: mapping, res: fc.boolean() },
  GETPORT: { args: mapping, res: u32 },
  DUMP: { args: fc.constant(undefined), res: list(mapping) },
  CALLIT: {
    args: fc.record({ prog: u32, vers: u32, proc: u32, args: bytes(2000) }),
    res: fc.record({ port: u32, res: bytes(2000) }),
  },
};

// ---------------------------------------------------------------------------------------------
// rpcbind v3 and v4

const rpcbString = text(64);
const rpcb = fc.record({ prog: u32, vers: u32, netid: rpcbString, addr: rpcbString, owner: rpcbString });
const rmtcallargs = fc.record({ prog: u32, vers: u32, proc: u32, args: bytes(1500) });
const rmtcallres = fc.record({ addr: rpcbString, results: bytes(1500) });
const netbuf = fc.record({ maxlen: u32, buf: bytes(32) });
const rpcbStat = fc.record({
  info: fc.array(i32, { minLength: 13, maxLength: 13 }),
  setinfo: i32,
  unsetinfo: i32,
  addrinfo: list(fc.record({ prog: u32, vers: u32, success: i32, failure: i32, netid: rpcbString })),
  rmtinfo: list(
    fc.record({ prog: u32, vers: u32, proc: u32, success: i32, failure: i32, indirect: i32, netid: rpcbString }),
  ),
});

const RPCB_COMMON: Record<string, ProcedureArbitraries> = {
  NULL: { args: fc.constant(undefined), res: fc.constant(undefined) },
  SET: { args: rpcb, res: fc.boolean() },
  UNSET: { args: rpcb, res: fc.boolean() },
  GETADDR: { args: rpcb, res: rpcbString },
  DUMP: { args: fc.constant(undefined), res: list(rpcb) },
  GETTIME: { args: fc.constant(undefined), res: u32 },
  UADDR2TADDR: { args: rpcbString, res: netbuf },
  TADDR2UADDR: { args: netbuf, res: rpcbString },
};

export const RPCB3_ARBITRARIES: Record<string, ProcedureArbitraries> = {
  ...RPCB_COMMON,
  CALLIT: { args: rmtcallargs, res: rmtcallres },
};

export const RPCB4_ARBITRARIES: Record<string, ProcedureArbitraries> = {
  ...RPCB_COMMON,
  BCAST: { args: rmtcallargs, res: rmtcallres },
  GETVERSADDR: { args: rpcb, res: rpcbString },
  INDIRECT: { args: rmtcallargs, res: rmtcallres },
  GETADDRLIST: {
    args: rpcb,
    res: list(
      fc.record({ maddr: rpcbString, ncNetid: rpcbString, ncSemantics: u32, ncProtofmly: rpcbString, ncProto: rpcbString }),
    ),
  },
  GETSTAT: { args: fc.constant(undefined), res: fc.array(rpcbStat, { minLength: 3, maxLength: 3 }) },
};

// ---------------------------------------------------------------------------------------------
// NFSACL v3

const acl = fc
  .array(fc.record({ type: u32, id: u32, perm: u32 }), { maxLength: 6 })
  .chain((entries) => fc.record({ count: fc.oneof(fc.constant(entries.length), u32), entries: fc.constant(entries) }));

export const NFSACL3_ARBITRARIES: Record<string, ProcedureArbitraries> = {
  NULL: { args: fc.constant(undefined), res: fc.constant(undefined) },
  GETACL: {
    args: fc.record({ fh, mask: u32 }),
    res: nfsResult(fc.record({ attr: postOpAttr, mask: u32, acl, dfacl: acl }), fc.record({ attr: postOpAttr })),
  },
  SETACL: {
    args: fc.record({ fh, mask: u32, acl, dfacl: acl }),
    res: nfsResult(fc.record({ attr: postOpAttr }), fc.record({ attr: postOpAttr })),
  },
};
