// NFSACL version 3 (program 100227): the POSIX ACL side protocol of NFSv3 that Solaris defined
// and Linux speaks (no RFC). The Linux client calls GETACL when the server registers it; s3nfs
// need not, but the codecs let captured traffic decode.

import { array, struct, uint32, xvoid } from './xdr.js';
import type { Infer } from './xdr.js';
import { postOpAttr } from './nfs3/attributes.js';
import { nfsFh3, nfsResult } from './nfs3/types.js';
import { programCodecs } from './program.js';

export const NFSACL_PROGRAM = 100227;
export const NFSACL_V3 = 3;

export const NfsAclProc = { NULL: 0, GETACL: 1, SETACL: 2 } as const;

/** GETACL/SETACL `mask` bits: which of the two ACLs (and their counts) are wanted or sent. */
export const NfsAclMask = { NFS_ACL: 0x1, NFS_ACLCNT: 0x2, NFS_DFACL: 0x4, NFS_DFACLCNT: 0x8 } as const;

/** Linux's bound on entries in one ACL. */
export const NFS_ACL_MAX_ENTRIES = 1024;

export const aclEntry = struct({ type: uint32, id: uint32, perm: uint32 });
export type AclEntry = Infer<typeof aclEntry>;

/** An ACL on the wire: a count word, then the entries as an XDR array. */
export const acl = struct({ count: uint32, entries: array(aclEntry, NFS_ACL_MAX_ENTRIES, 12) });
export type Acl = Infer<typeof acl>;

export const getacl3Args = struct({ fh: nfsFh3, mask: uint32 });
const attrOnly = struct({ attr: postOpAttr });
export const getacl3Res = nfsResult(struct({ attr: postOpAttr, mask: uint32, acl, dfacl: acl }), attrOnly, () => ({
  attr: undefined,
}));

export const setacl3Args = struct({ fh: nfsFh3, mask: uint32, acl, dfacl: acl });
export const setacl3Res = nfsResult(attrOnly, attrOnly, () => ({ attr: undefined }));

export const NFSACL3 = programCodecs('nfs_acl', NFSACL_PROGRAM, NFSACL_V3, {
  NULL: { proc: NfsAclProc.NULL, args: xvoid, res: xvoid, idempotent: true },
  GETACL: { proc: NfsAclProc.GETACL, args: getacl3Args, res: getacl3Res, idempotent: true },
  SETACL: { proc: NfsAclProc.SETACL, args: setacl3Args, res: setacl3Res, idempotent: false },
});
