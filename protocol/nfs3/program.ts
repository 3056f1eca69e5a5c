// The NFSv3 procedure table: procedure number → name, argument and result codecs.

import { xvoid } from '../xdr.js';
import { programCodecs } from '../program.js';
import { NFS3_DEFAULT_MAX_IO, NFS_PROGRAM, NFS_V3, Nfs3Proc } from './constants.js';
import { commit3Args, commit3Res, read3Args, read3Res, write3Args, write3Res } from './data.js';
import { fsinfo3Args, fsinfo3Res, fsstat3Args, fsstat3Res, pathconf3Args, pathconf3Res } from './fsinfo.js';
import {
  access3Args,
  access3Res,
  getattr3Args,
  getattr3Res,
  readlink3Args,
  readlink3Res,
  setattr3Args,
  setattr3Res,
} from './metadata.js';
import {
  create3Args,
  create3Res,
  link3Args,
  link3Res,
  lookup3Args,
  lookup3Res,
  mkdir3Args,
  mkdir3Res,
  mknod3Args,
  mknod3Res,
  remove3Args,
  remove3Res,
  rename3Args,
  rename3Res,
  rmdir3Args,
  rmdir3Res,
  symlink3Args,
  symlink3Res,
} from './namespace.js';
import { readdir3Args, readdir3Res, readdirplus3Args, readdirplus3Res } from './readdir.js';

export interface Nfs3Limits {
  /** Largest WRITE payload accepted (the server's wtmax, plus any slack). */
  maxWriteData: number;
  /** Largest READ payload accepted when decoding replies (clients, captured traffic). */
  maxReadData: number;
}

export const DEFAULT_NFS3_LIMITS: Readonly<Nfs3Limits> = Object.freeze({
  maxWriteData: NFS3_DEFAULT_MAX_IO,
  maxReadData: NFS3_DEFAULT_MAX_IO,
});

export function nfs3Program(limits: Partial<Nfs3Limits> = {}) {
  const { maxWriteData, maxReadData } = { ...DEFAULT_NFS3_LIMITS, ...limits };
  return programCodecs('nfs', NFS_PROGRAM, NFS_V3, {
    NULL: { proc: Nfs3Proc.NULL, args: xvoid, res: xvoid, idempotent: true },
    GETATTR: { proc: Nfs3Proc.GETATTR, args: getattr3Args, res: getattr3Res, idempotent: true },
    SETATTR: { proc: Nfs3Proc.SETATTR, args: setattr3Args, res: setattr3Res, idempotent: false },
    LOOKUP: { proc: Nfs3Proc.LOOKUP, args: lookup3Args, res: lookup3Res, idempotent: true },
    ACCESS: { proc: Nfs3Proc.ACCESS, args: access3Args, res: access3Res, idempotent: true },
    READLINK: { proc: Nfs3Proc.READLINK, args: readlink3Args, res: readlink3Res, idempotent: true },
    READ: { proc: Nfs3Proc.READ, args: read3Args, res: read3Res(maxReadData), idempotent: true },
    WRITE: { proc: Nfs3Proc.WRITE, args: write3Args(maxWriteData), res: write3Res, idempotent: false },
    CREATE: { proc: Nfs3Proc.CREATE, args: create3Args, res: create3Res, idempotent: false },
    MKDIR: { proc: Nfs3Proc.MKDIR, args: mkdir3Args, res: mkdir3Res, idempotent: false },
    SYMLINK: { proc: Nfs3Proc.SYMLINK, args: symlink3Args, res: symlink3Res, idempotent: false },
    MKNOD: { proc: Nfs3Proc.MKNOD, args: mknod3Args, res: mknod3Res, idempotent: false },
    REMOVE: { proc: Nfs3Proc.REMOVE, args: remove3Args, res: remove3Res, idempotent: false },
    RMDIR: { proc: Nfs3Proc.RMDIR, args: rmdir3Args, res: rmdir3Res, idempotent: false },
    RENAME: { proc: Nfs3Proc.RENAME, args: rename3Args, res: rename3Res, idempotent: false },
    LINK: { proc: Nfs3Proc.LINK, args: link3Args, res: link3Res, idempotent: false },
    READDIR: { proc: Nfs3Proc.READDIR, args: readdir3Args, res: readdir3Res, idempotent: true },
    READDIRPLUS: { proc: Nfs3Proc.READDIRPLUS, args: readdirplus3Args, res: readdirplus3Res, idempotent: true },
    FSSTAT: { proc: Nfs3Proc.FSSTAT, args: fsstat3Args, res: fsstat3Res, idempotent: true },
    FSINFO: { proc: Nfs3Proc.FSINFO, args: fsinfo3Args, res: fsinfo3Res, idempotent: true },
    PATHCONF: { proc: Nfs3Proc.PATHCONF, args: pathconf3Args, res: pathconf3Res, idempotent: true },
    COMMIT: { proc: Nfs3Proc.COMMIT, args: commit3Args, res: commit3Res, idempotent: true },
  });
}

export type Nfs3Program = ReturnType<typeof nfs3Program>;

/** The table with the default limits. */
export const NFS3: Nfs3Program = nfs3Program();
