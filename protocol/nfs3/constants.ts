// NFS version 3 numbers and limits (RFC 1813 section 2 and the program definition).

export const NFS_PROGRAM = 100003;
export const NFS_V3 = 3;

export const Nfs3Proc = {
  NULL: 0,
  GETATTR: 1,
  SETATTR: 2,
  LOOKUP: 3,
  ACCESS: 4,
  READLINK: 5,
  READ: 6,
  WRITE: 7,
  CREATE: 8,
  MKDIR: 9,
  SYMLINK: 10,
  MKNOD: 11,
  REMOVE: 12,
  RMDIR: 13,
  RENAME: 14,
  LINK: 15,
  READDIR: 16,
  READDIRPLUS: 17,
  FSSTAT: 18,
  FSINFO: 19,
  PATHCONF: 20,
  COMMIT: 21,
} as const;
export type Nfs3Proc = (typeof Nfs3Proc)[keyof typeof Nfs3Proc];

export const NfsStat3 = {
  NFS3_OK: 0,
  NFS3ERR_PERM: 1,
  NFS3ERR_NOENT: 2,
  NFS3ERR_IO: 5,
  NFS3ERR_NXIO: 6,
  NFS3ERR_ACCES: 13,
  NFS3ERR_EXIST: 17,
  NFS3ERR_XDEV: 18,
  NFS3ERR_NODEV: 19,
  NFS3ERR_NOTDIR: 20,
  NFS3ERR_ISDIR: 21,
  NFS3ERR_INVAL: 22,
  NFS3ERR_FBIG: 27,
  NFS3ERR_NOSPC: 28,
  NFS3ERR_ROFS: 30,
  NFS3ERR_MLINK: 31,
  NFS3ERR_NAMETOOLONG: 63,
  NFS3ERR_NOTEMPTY: 66,
  NFS3ERR_DQUOT: 69,
  NFS3ERR_STALE: 70,
  NFS3ERR_REMOTE: 71,
  NFS3ERR_BADHANDLE: 10001,
  NFS3ERR_NOT_SYNC: 10002,
  NFS3ERR_BAD_COOKIE: 10003,
  NFS3ERR_NOTSUPP: 10004,
  NFS3ERR_TOOSMALL: 10005,
  NFS3ERR_SERVERFAULT: 10006,
  NFS3ERR_BADTYPE: 10007,
  NFS3ERR_JUKEBOX: 10008,
} as const;
export type NfsStat3 = (typeof NfsStat3)[keyof typeof NfsStat3];
/** Every status but NFS3_OK: the ones that select a result's failure arm. */
export type NfsErrorStat3 = Exclude<NfsStat3, typeof NfsStat3.NFS3_OK>;

export const Ftype3 = {
  NF3REG: 1,
  NF3DIR: 2,
  NF3BLK: 3,
  NF3CHR: 4,
  NF3LNK: 5,
  NF3SOCK: 6,
  NF3FIFO: 7,
} as const;
export type Ftype3 = (typeof Ftype3)[keyof typeof Ftype3];

export const TimeHow = { DONT_CHANGE: 0, SET_TO_SERVER_TIME: 1, SET_TO_CLIENT_TIME: 2 } as const;
export type TimeHow = (typeof TimeHow)[keyof typeof TimeHow];

export const StableHow = { UNSTABLE: 0, DATA_SYNC: 1, FILE_SYNC: 2 } as const;
export type StableHow = (typeof StableHow)[keyof typeof StableHow];

export const CreateMode3 = { UNCHECKED: 0, GUARDED: 1, EXCLUSIVE: 2 } as const;
export type CreateMode3 = (typeof CreateMode3)[keyof typeof CreateMode3];

/** ACCESS request/result bits. */
export const Access3 = {
  READ: 0x0001,
  LOOKUP: 0x0002,
  MODIFY: 0x0004,
  EXTEND: 0x0008,
  DELETE: 0x0010,
  EXECUTE: 0x0020,
} as const;

/** FSINFO `properties` bits. */
export const Fsf3 = {
  LINK: 0x0001,
  SYMLINK: 0x0002,
  HOMOGENEOUS: 0x0008,
  CANSETTIME: 0x0010,
} as const;

/** Largest file handle (nfs_fh3 is opaque<NFS3_FHSIZE>). */
export const NFS3_FHSIZE = 64;
export const NFS3_COOKIEVERFSIZE = 8;
export const NFS3_CREATEVERFSIZE = 8;
export const NFS3_WRITEVERFSIZE = 8;

/**
 * RFC 1813 leaves filename3/nfspath3 unbounded; these are the bounds we accept on the wire
 * (NAME_MAX and PATH_MAX as Linux knows them), checked before anything is allocated.
 */
export const NFS3_MAX_NAME = 255;
export const NFS3_MAX_PATH = 1024;

/** Largest READ/WRITE payload we accept by default: 1 MiB (the Linux client's largest rsize/wsize) plus slack. */
export const NFS3_DEFAULT_MAX_IO = 1024 * 1024 + 4096;

/** Bound on entries decoded from one READDIR/READDIRPLUS reply (each entry costs wire bytes anyway). */
export const NFS3_MAX_DIR_ENTRIES = 1 << 20;
