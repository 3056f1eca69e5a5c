// Procedures that change or search a directory (RFC 1813 sections 3.3.3, 3.3.8-3.3.15):
// LOOKUP, CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, RENAME, LINK.

import { struct, variant } from '../xdr.js';
import type { Infer } from '../xdr.js';
import { emptyWcc, postOpAttr, postOpFh3, sattr3, wccData } from './attributes.js';
import { CreateMode3, Ftype3 } from './constants.js';
import { createverf3, diropargs3, nfsFh3, nfspath3, nfsResult, specdata3 } from './types.js';

export const lookup3Args = struct({ what: diropargs3 });
export type Lookup3Args = Infer<typeof lookup3Args>;
export const lookup3Res = nfsResult(
  struct({ object: nfsFh3, objAttributes: postOpAttr, dirAttributes: postOpAttr }),
  struct({ dirAttributes: postOpAttr }),
  () => ({ dirAttributes: undefined }),
);
export type Lookup3Res = Infer<typeof lookup3Res>;

/** The failure arm of every procedure that creates or removes one name. */
const dirWccOnly = struct({ dirWcc: wccData });
const emptyDirWcc = () => ({ dirWcc: emptyWcc() });

/** CREATE3resok, MKDIR3resok, SYMLINK3resok and MKNOD3resok have the same shape. */
const newObjectResOk = struct({ obj: postOpFh3, objAttributes: postOpAttr, dirWcc: wccData });
const newObjectRes = () => nfsResult(newObjectResOk, dirWccOnly, emptyDirWcc);

export const createhow3 = variant('createmode3', 'mode', {
  [CreateMode3.UNCHECKED]: { objAttributes: sattr3 },
  [CreateMode3.GUARDED]: { objAttributes: sattr3 },
  [CreateMode3.EXCLUSIVE]: { verf: createverf3 },
});
export type CreateHow3 = Infer<typeof createhow3>;

export const create3Args = struct({ where: diropargs3, how: createhow3 });
export type Create3Args = Infer<typeof create3Args>;
export const create3Res = newObjectRes();
export type Create3Res = Infer<typeof create3Res>;

export const mkdir3Args = struct({ where: diropargs3, attributes: sattr3 });
export type Mkdir3Args = Infer<typeof mkdir3Args>;
export const mkdir3Res = newObjectRes();
export type Mkdir3Res = Infer<typeof mkdir3Res>;

export const symlinkdata3 = struct({ symlinkAttributes: sattr3, symlinkData: nfspath3 });
export const symlink3Args = struct({ where: diropargs3, symlink: symlinkdata3 });
export type Symlink3Args = Infer<typeof symlink3Args>;
export const symlink3Res = newObjectRes();
export type Symlink3Res = Infer<typeof symlink3Res>;

export const devicedata3 = struct({ devAttributes: sattr3, spec: specdata3 });
/** mknoddata3: devices carry attributes and a device number, sockets and FIFOs attributes only. */
export const mknoddata3 = variant('ftype3', 'type', {
  [Ftype3.NF3CHR]: { device: devicedata3 },
  [Ftype3.NF3BLK]: { device: devicedata3 },
  [Ftype3.NF3SOCK]: { pipeAttributes: sattr3 },
  [Ftype3.NF3FIFO]: { pipeAttributes: sattr3 },
  [Ftype3.NF3REG]: {},
  [Ftype3.NF3DIR]: {},
  [Ftype3.NF3LNK]: {},
});
export type MknodData3 = Infer<typeof mknoddata3>;
export const mknod3Args = struct({ where: diropargs3, what: mknoddata3 });
export type Mknod3Args = Infer<typeof mknod3Args>;
export const mknod3Res = newObjectRes();
export type Mknod3Res = Infer<typeof mknod3Res>;

export const remove3Args = struct({ object: diropargs3 });
export type Remove3Args = Infer<typeof remove3Args>;
export const remove3Res = nfsResult(dirWccOnly, dirWccOnly, emptyDirWcc);
export type Remove3Res = Infer<typeof remove3Res>;

export const rmdir3Args = struct({ object: diropargs3 });
export type Rmdir3Args = Infer<typeof rmdir3Args>;
export const rmdir3Res = nfsResult(dirWccOnly, dirWccOnly, emptyDirWcc);
export type Rmdir3Res = Infer<typeof rmdir3Res>;

export const rename3Args = struct({ from: diropargs3, to: diropargs3 });
export type Rename3Args = Infer<typeof rename3Args>;
const renameWcc = struct({ fromdirWcc: wccData, todirWcc: wccData });
export const rename3Res = nfsResult(renameWcc, renameWcc, () => ({ fromdirWcc: emptyWcc(), todirWcc: emptyWcc() }));
export type Rename3Res = Infer<typeof rename3Res>;

export const link3Args = struct({ file: nfsFh3, link: diropargs3 });
export type Link3Args = Infer<typeof link3Args>;
const linkRes = struct({ fileAttributes: postOpAttr, linkdirWcc: wccData });
export const link3Res = nfsResult(linkRes, linkRes, () => ({ fileAttributes: undefined, linkdirWcc: emptyWcc() }));
export type Link3Res = Infer<typeof link3Res>;
