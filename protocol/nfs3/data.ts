// READ, WRITE and COMMIT (RFC 1813 sections 3.3.6, 3.3.7, 3.3.21). Payloads are never copied:
// decoded WRITE data and READ data are views of the input buffer, and on encoding a large
// payload is kept by reference by the XdrWriter.

import { XdrError, bool, enumOf, opaque, struct, uint32, uint64 } from '../xdr.js';
import type { Codec, Infer } from '../xdr.js';
import { emptyWcc, postOpAttr, wccData } from './attributes.js';
import { NFS3_DEFAULT_MAX_IO, StableHow } from './constants.js';
import { nfsFh3, nfsResult, writeverf3 } from './types.js';

export const stableHow = enumOf<StableHow>('stable_how', Object.values(StableHow));

export const read3Args = struct({ file: nfsFh3, offset: uint64, count: uint32 });
export type Read3Args = Infer<typeof read3Args>;

/** READ results; `maxData` bounds the data length accepted when decoding. */
export function read3Res(maxData = NFS3_DEFAULT_MAX_IO) {
  return nfsResult(
    struct({ fileAttributes: postOpAttr, count: uint32, eof: bool, data: opaque(maxData) }),
    struct({ fileAttributes: postOpAttr }),
    () => ({ fileAttributes: undefined }),
  );
}
export type Read3Res = Infer<ReturnType<typeof read3Res>>;

const write3Fields = (maxData: number) =>
  struct({ file: nfsFh3, offset: uint64, count: uint32, stable: stableHow, data: opaque(maxData) });
export type Write3Args = Infer<ReturnType<typeof write3Fields>>;

/**
 * WRITE arguments; `maxData` bounds the data length (checked before the data is touched), and the
 * count must equal the data length, as the Linux server requires.
 */
export function write3Args(maxData = NFS3_DEFAULT_MAX_IO): Codec<Write3Args> {
  const fields = write3Fields(maxData);
  return {
    encode: (w, v) => fields.encode(w, v),
    decode: (r) => {
      const v = fields.decode(r);
      if (v.count !== v.data.length) throw XdrError.decoding(`WRITE count ${v.count} differs from data length ${v.data.length}`);
      return v;
    },
  };
}

const writeWcc = struct({ fileWcc: wccData });
export const write3Res = nfsResult(
  struct({ fileWcc: wccData, count: uint32, committed: stableHow, verf: writeverf3 }),
  writeWcc,
  () => ({ fileWcc: emptyWcc() }),
);
export type Write3Res = Infer<typeof write3Res>;

export const commit3Args = struct({ file: nfsFh3, offset: uint64, count: uint32 });
export type Commit3Args = Infer<typeof commit3Args>;
export const commit3Res = nfsResult(struct({ fileWcc: wccData, verf: writeverf3 }), writeWcc, () => ({
  fileWcc: emptyWcc(),
}));
export type Commit3Res = Infer<typeof commit3Res>;
