// GETATTR, SETATTR, ACCESS and READLINK (RFC 1813 sections 3.3.1-3.3.5): one object's attributes.

import { struct, uint32, xvoid } from '../xdr.js';
import type { Infer } from '../xdr.js';
import { emptyWcc, fattr3, postOpAttr, sattr3, sattrguard3, wccData } from './attributes.js';
import { nfsFh3, nfspath3, nfsResult } from './types.js';

export const getattr3Args = struct({ object: nfsFh3 });
export type Getattr3Args = Infer<typeof getattr3Args>;
export const getattr3Res = nfsResult(struct({ objAttributes: fattr3 }), xvoid, () => undefined);
export type Getattr3Res = Infer<typeof getattr3Res>;

export const setattr3Args = struct({ object: nfsFh3, newAttributes: sattr3, guard: sattrguard3 });
export type Setattr3Args = Infer<typeof setattr3Args>;
const setattr3Wcc = struct({ objWcc: wccData });
export const setattr3Res = nfsResult(setattr3Wcc, setattr3Wcc, () => ({ objWcc: emptyWcc() }));
export type Setattr3Res = Infer<typeof setattr3Res>;

export const access3Args = struct({ object: nfsFh3, access: uint32 });
export type Access3Args = Infer<typeof access3Args>;
export const access3Res = nfsResult(
  struct({ objAttributes: postOpAttr, access: uint32 }),
  struct({ objAttributes: postOpAttr }),
  () => ({ objAttributes: undefined }),
);
export type Access3Res = Infer<typeof access3Res>;

export const readlink3Args = struct({ symlink: nfsFh3 });
export type Readlink3Args = Infer<typeof readlink3Args>;
export const readlink3Res = nfsResult(
  struct({ symlinkAttributes: postOpAttr, data: nfspath3 }),
  struct({ symlinkAttributes: postOpAttr }),
  () => ({ symlinkAttributes: undefined }),
);
export type Readlink3Res = Infer<typeof readlink3Res>;
