// READ, WRITE and COMMIT (RFC 1813 sections 3.3.6, 3.3.7, 3.3.21). READ hands the file system's
// buffer to the reply untouched: the XDR writer keeps it by reference and the connection writes it
// with writev, so payload bytes are never copied here.

import { commit3Res, read3Res, write3Res } from '../../protocol/nfs3/data.js';
import { Nfs3Proc, StableHow as WireStableHow } from '../../protocol/nfs3/constants.js';
import type { Nfs3Program } from '../../protocol/nfs3/program.js';
import type { StableHow } from '../fs/file-system.js';
import type { RpcProcedure } from '../server/program.js';
import { nfsProcedure } from './context.js';
import type { NfsContext } from './context.js';
import { toSafeNumber } from './fattr.js';

const TO_FS: Readonly<Record<WireStableHow, StableHow>> = {
  [WireStableHow.UNSTABLE]: 'unstable',
  [WireStableHow.DATA_SYNC]: 'data_sync',
  [WireStableHow.FILE_SYNC]: 'file_sync',
};

const TO_WIRE: Readonly<Record<StableHow, WireStableHow>> = {
  unstable: WireStableHow.UNSTABLE,
  data_sync: WireStableHow.DATA_SYNC,
  file_sync: WireStableHow.FILE_SYNC,
};

/** Any offset past 2^53 is past the end of every object (S3's largest is 5 TiB). */
const FAR_OFFSET = Number.MAX_SAFE_INTEGER;

export function dataProcedures(nfs: NfsContext, p: Nfs3Program['procedures']): Record<number, RpcProcedure> {
  const { fs } = nfs;
  // Failure arms only: replies are encoded with the table's codec, whose data bound may differ.
  const readFailures = read3Res();
  return {
    [Nfs3Proc.READ]: nfsProcedure(nfs, p.READ, readFailures, async ({ file, offset, count }, call, onFailure) => {
      const id = nfs.idOf(file);
      onFailure(() => ({ fileAttributes: nfs.postOp(id) }));
      const at = offset > BigInt(FAR_OFFSET) ? FAR_OFFSET : Number(offset);
      const got = await fs.read(id, at, count);
      // The reply carries got.data by reference: its buffer is reused only after the socket wrote it.
      if (got.release) call.onReplySent?.(got.release);
      return { fileAttributes: nfs.attr(got.attributes), count: got.data.length, eof: got.eof, data: got.data };
    }),

    [Nfs3Proc.WRITE]: nfsProcedure(nfs, p.WRITE, write3Res, async ({ file, offset, stable, data }, _call, onFailure) => {
      const id = nfs.idOf(file);
      const before = nfs.known(id);
      onFailure(() => ({ fileWcc: nfs.wcc(before, nfs.known(id)) }));
      const done = await fs.write(id, toSafeNumber(offset, 'WRITE offset'), data, TO_FS[stable]);
      return {
        fileWcc: nfs.wcc(before, done.attributes),
        count: done.count,
        committed: TO_WIRE[done.committed],
        verf: done.verifier,
      };
    }),

    [Nfs3Proc.COMMIT]: nfsProcedure(nfs, p.COMMIT, commit3Res, async ({ file, offset, count }, _call, onFailure) => {
      const id = nfs.idOf(file);
      const before = nfs.known(id);
      onFailure(() => ({ fileWcc: nfs.wcc(before, nfs.known(id)) }));
      const done = await fs.commit(id, offset > BigInt(FAR_OFFSET) ? FAR_OFFSET : Number(offset), count);
      return { fileWcc: nfs.wcc(before, done.attributes), verf: done.verifier };
    }),
  };
}
