// GETATTR, SETATTR and ACCESS (RFC 1813 sections 3.3.1, 3.3.2, 3.3.4): one object's attributes
// and what the caller may do to it.

import { access3Res, getattr3Res, setattr3Res } from '../../protocol/nfs3/metadata.js';
import type { Nfs3Program } from '../../protocol/nfs3/program.js';
import { Nfs3Proc } from '../../protocol/nfs3/constants.js';
import type { RpcProcedure } from '../server/program.js';
import { callerOf, nfsProcedure } from './context.js';
import type { NfsContext } from './context.js';
import { fromNfsTime, toFattr3, toSetAttributes } from './fattr.js';

export function attributeProcedures(nfs: NfsContext, p: Nfs3Program['procedures']): Record<number, RpcProcedure> {
  const { fs } = nfs;
  return {
    [Nfs3Proc.GETATTR]: nfsProcedure(nfs, p.GETATTR, getattr3Res, async ({ object }) => {
      const id = nfs.idOf(object);
      return { objAttributes: toFattr3(await fs.getattr(id), fs.exportId) };
    }),

    [Nfs3Proc.SETATTR]: nfsProcedure(nfs, p.SETATTR, setattr3Res, async ({ object, newAttributes, guard }, _call, onFailure) => {
      const id = nfs.idOf(object);
      const before = nfs.known(id);
      onFailure(() => ({ objWcc: nfs.wcc(before, nfs.known(id)) }));
      const after = await fs.setattr(id, toSetAttributes(newAttributes), guard === undefined ? undefined : fromNfsTime(guard));
      return { objWcc: nfs.wcc(before, after) };
    }),

    [Nfs3Proc.ACCESS]: nfsProcedure(nfs, p.ACCESS, access3Res, async ({ object, access }, call, onFailure) => {
      const id = nfs.idOf(object);
      onFailure(() => ({ objAttributes: nfs.postOp(id) }));
      const { granted, attributes } = await fs.access(id, callerOf(call.cred), access);
      return { objAttributes: nfs.attr(attributes), access: granted };
    }),
  };
}
