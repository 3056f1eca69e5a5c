// FSSTAT, FSINFO and PATHCONF (RFC 1813 sections 3.3.18-3.3.20): file system wide facts.

import { bool, struct, uint32, uint64 } from '../xdr.js';
import type { Infer } from '../xdr.js';
import { postOpAttr } from './attributes.js';
import { nfsFh3, nfsResult, nfstime3 } from './types.js';

const objAttributesOnly = struct({ objAttributes: postOpAttr });
const emptyObjAttributes = () => ({ objAttributes: undefined });

export const fsstat3Args = struct({ fsroot: nfsFh3 });
export type Fsstat3Args = Infer<typeof fsstat3Args>;
export const fsstat3Res = nfsResult(
  struct({
    objAttributes: postOpAttr,
    tbytes: uint64,
    fbytes: uint64,
    abytes: uint64,
    tfiles: uint64,
    ffiles: uint64,
    afiles: uint64,
    invarsec: uint32,
  }),
  objAttributesOnly,
  emptyObjAttributes,
);
export type Fsstat3Res = Infer<typeof fsstat3Res>;

export const fsinfo3Args = struct({ fsroot: nfsFh3 });
export type Fsinfo3Args = Infer<typeof fsinfo3Args>;
export const fsinfo3Res = nfsResult(
  struct({
    objAttributes: postOpAttr,
    rtmax: uint32,
    rtpref: uint32,
    rtmult: uint32,
    wtmax: uint32,
    wtpref: uint32,
    wtmult: uint32,
    dtpref: uint32,
    maxfilesize: uint64,
    timeDelta: nfstime3,
    properties: uint32,
  }),
  objAttributesOnly,
  emptyObjAttributes,
);
export type Fsinfo3Res = Infer<typeof fsinfo3Res>;

export const pathconf3Args = struct({ object: nfsFh3 });
export type Pathconf3Args = Infer<typeof pathconf3Args>;
export const pathconf3Res = nfsResult(
  struct({
    objAttributes: postOpAttr,
    linkmax: uint32,
    nameMax: uint32,
    noTrunc: bool,
    chownRestricted: bool,
    caseInsensitive: bool,
    casePreserving: bool,
  }),
  objAttributesOnly,
  emptyObjAttributes,
);
export type Pathconf3Res = Infer<typeof pathconf3Res>;
