// The MOUNT protocol, version 3 (RFC 1813 appendix I): how a client gets the root file handle
// of an export, and the (advisory) lists of exports and mounts.

import { array, int32, list, opaque, string, struct, variant, xvoid } from './xdr.js';
import type { Infer } from './xdr.js';
import { programCodecs } from './program.js';

export const MOUNT_PROGRAM = 100005;
export const MOUNT_V3 = 3;

export const MountProc = { NULL: 0, MNT: 1, DUMP: 2, UMNT: 3, UMNTALL: 4, EXPORT: 5 } as const;
export type MountProc = (typeof MountProc)[keyof typeof MountProc];

export const MNTPATHLEN = 1024;
export const MNTNAMLEN = 255;
export const FHSIZE3 = 64;
/** RFC 1813 leaves auth_flavors<> unbounded; real servers send one or two. */
export const MOUNT_MAX_AUTH_FLAVORS = 64;
/** Bound on entries decoded from a DUMP or EXPORT reply or an export's group list. */
export const MOUNT_MAX_LIST = 1 << 16;

export const MountStat3 = {
  MNT3_OK: 0,
  MNT3ERR_PERM: 1,
  MNT3ERR_NOENT: 2,
  MNT3ERR_IO: 5,
  MNT3ERR_ACCES: 13,
  MNT3ERR_NOTDIR: 20,
  MNT3ERR_INVAL: 22,
  MNT3ERR_NAMETOOLONG: 63,
  MNT3ERR_NOTSUPP: 10004,
  MNT3ERR_SERVERFAULT: 10006,
} as const;
export type MountStat3 = (typeof MountStat3)[keyof typeof MountStat3];

export const fhandle3 = opaque(FHSIZE3);
export const dirpath = string(MNTPATHLEN);
export const mountName = string(MNTNAMLEN);

export const mountres3Ok = struct({ fhandle: fhandle3, authFlavors: array(int32, MOUNT_MAX_AUTH_FLAVORS) });
export type Mountres3Ok = Infer<typeof mountres3Ok>;

/** mountres3: `{ status: MNT3_OK, mountinfo }`, or another status alone. */
export const mountres3 = variant('mountstat3', 'status', {
  [MountStat3.MNT3_OK]: { mountinfo: mountres3Ok },
  [MountStat3.MNT3ERR_PERM]: {},
  [MountStat3.MNT3ERR_NOENT]: {},
  [MountStat3.MNT3ERR_IO]: {},
  [MountStat3.MNT3ERR_ACCES]: {},
  [MountStat3.MNT3ERR_NOTDIR]: {},
  [MountStat3.MNT3ERR_INVAL]: {},
  [MountStat3.MNT3ERR_NAMETOOLONG]: {},
  [MountStat3.MNT3ERR_NOTSUPP]: {},
  [MountStat3.MNT3ERR_SERVERFAULT]: {},
});
export type Mountres3 = Infer<typeof mountres3>;

/** mountlist: who has mounted what (DUMP). */
export const mountBody = struct({ hostname: mountName, directory: dirpath });
export type MountBody = Infer<typeof mountBody>;
export const mountList = list(mountBody, MOUNT_MAX_LIST);

/** exports: each exported directory with the groups allowed to mount it (EXPORT). */
export const exportNode = struct({ dir: dirpath, groups: list(mountName, MOUNT_MAX_LIST) });
export type ExportNode = Infer<typeof exportNode>;
export const exportList = list(exportNode, MOUNT_MAX_LIST);

export const MOUNT3 = programCodecs('mount', MOUNT_PROGRAM, MOUNT_V3, {
  NULL: { proc: MountProc.NULL, args: xvoid, res: xvoid, idempotent: true },
  MNT: { proc: MountProc.MNT, args: dirpath, res: mountres3, idempotent: false },
  DUMP: { proc: MountProc.DUMP, args: xvoid, res: mountList, idempotent: true },
  UMNT: { proc: MountProc.UMNT, args: dirpath, res: xvoid, idempotent: false },
  UMNTALL: { proc: MountProc.UMNTALL, args: xvoid, res: xvoid, idempotent: false },
  EXPORT: { proc: MountProc.EXPORT, args: xvoid, res: exportList, idempotent: true },
});
