// NFSv3 basic data types (RFC 1813 section 2.5) and the result union every procedure uses.

import { XdrError, opaque, opaqueFixed, string, struct, uint32, uint64 } from '../xdr.js';
import type { Codec, Infer } from '../xdr.js';
import {
  NFS3_COOKIEVERFSIZE,
  NFS3_CREATEVERFSIZE,
  NFS3_FHSIZE,
  NFS3_MAX_NAME,
  NFS3_MAX_PATH,
  NFS3_WRITEVERFSIZE,
  NfsStat3,
} from './constants.js';
import type { NfsErrorStat3 } from './constants.js';

/** nfs_fh3: an opaque handle of at most 64 bytes, returned as a view of the input. */
export const nfsFh3: Codec<Buffer> = opaque(NFS3_FHSIZE);
/** filename3: one path component, UTF-8, at most NFS3_MAX_NAME bytes. */
export const filename3: Codec<string> = string(NFS3_MAX_NAME);
/** nfspath3: a symlink target or path, UTF-8, at most NFS3_MAX_PATH bytes. */
export const nfspath3: Codec<string> = string(NFS3_MAX_PATH);
export const cookieverf3: Codec<Buffer> = opaqueFixed(NFS3_COOKIEVERFSIZE);
export const createverf3: Codec<Buffer> = opaqueFixed(NFS3_CREATEVERFSIZE);
export const writeverf3: Codec<Buffer> = opaqueFixed(NFS3_WRITEVERFSIZE);
/** uint64 quantities (size3, offset3, cookie3, fileid3) stay bigint so every value survives a round trip. */
export const size3: Codec<bigint> = uint64;

export const nfstime3 = struct({ seconds: uint32, nseconds: uint32 });
export type NfsTime3 = Infer<typeof nfstime3>;

export const specdata3 = struct({ specdata1: uint32, specdata2: uint32 });
export type SpecData3 = Infer<typeof specdata3>;

export const diropargs3 = struct({ dir: nfsFh3, name: filename3 });
export type DirOpArgs3 = Infer<typeof diropargs3>;

// ---------------------------------------------------------------------------------------------
// Results: `union switch (nfsstat3 status) { case NFS3_OK: resok; default: resfail; }`

export type NfsResult<OK, FAIL> =
  | { status: typeof NfsStat3.NFS3_OK; resok: OK }
  | { status: NfsErrorStat3; resfail: FAIL };

export interface NfsResultCodec<OK, FAIL> extends Codec<NfsResult<OK, FAIL>> {
  /** The failure arm with nothing known (no attributes), for errors found before any lookup. */
  fail(status: NfsErrorStat3): NfsResult<OK, FAIL>;
}

const nfsStatValues = new Set<number>(Object.values(NfsStat3));

export function nfsResult<OK, FAIL>(ok: Codec<OK>, fail: Codec<FAIL>, emptyFail: () => FAIL): NfsResultCodec<OK, FAIL> {
  return {
    encode(w, v) {
      w.uint32(v.status);
      if (v.status === NfsStat3.NFS3_OK) ok.encode(w, v.resok);
      else fail.encode(w, v.resfail);
    },
    decode(r) {
      const status = r.uint32();
      if (status === NfsStat3.NFS3_OK) return { status, resok: ok.decode(r) };
      if (!nfsStatValues.has(status)) throw XdrError.decoding(`bad nfsstat3 value ${status}`);
      return { status: status as NfsErrorStat3, resfail: fail.decode(r) };
    },
    fail: (status) => ({ status, resfail: emptyFail() }),
  };
}
