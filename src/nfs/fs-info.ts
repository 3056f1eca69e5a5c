// FSSTAT, FSINFO and PATHCONF (RFC 1813 sections 3.3.18-3.3.20): facts about the whole export.
// The Linux client sends FSINFO twice and PATHCONF once while mounting.

import { Fsf3, Nfs3Proc } from '../../protocol/nfs3/constants.js';
import { fsinfo3Res, fsstat3Res, pathconf3Res } from '../../protocol/nfs3/fsinfo.js';
import type { Nfs3Program } from '../../protocol/nfs3/program.js';
import type { FsInfo } from '../fs/file-system.js';
import type { RpcProcedure } from '../server/program.js';
import { nfsProcedure } from './context.js';
import type { NfsContext } from './context.js';
import { toNfsTime } from './fattr.js';

function properties(info: FsInfo): number {
  return (
    (info.supportsHardLinks ? Fsf3.LINK : 0) |
    (info.supportsSymlinks ? Fsf3.SYMLINK : 0) |
    (info.homogeneous ? Fsf3.HOMOGENEOUS : 0) |
    (info.canSetTime ? Fsf3.CANSETTIME : 0)
  );
}

export function fsInfoProcedures(nfs: NfsContext, p: Nfs3Program['procedures']): Record<number, RpcProcedure> {
  const { fs } = nfs;
  return {
    [Nfs3Proc.FSSTAT]: nfsProcedure(nfs, p.FSSTAT, fsstat3Res, async ({ fsroot }, _call, onFailure) => {
      const id = nfs.idOf(fsroot);
      onFailure(() => ({ objAttributes: nfs.postOp(id) }));
      const s = await fs.fsstat(id);
      return {
        objAttributes: nfs.postOp(id),
        tbytes: BigInt(s.totalBytes),
        fbytes: BigInt(s.freeBytes),
        abytes: BigInt(s.availBytes),
        tfiles: BigInt(s.totalFiles),
        ffiles: BigInt(s.freeFiles),
        afiles: BigInt(s.availFiles),
        invarsec: s.invarsec,
      };
    }),

    [Nfs3Proc.FSINFO]: nfsProcedure(nfs, p.FSINFO, fsinfo3Res, async ({ fsroot }, _call, onFailure) => {
      const id = nfs.idOf(fsroot);
      onFailure(() => ({ objAttributes: nfs.postOp(id) }));
      const i = await fs.fsinfo(id);
      return {
        objAttributes: nfs.postOp(id),
        rtmax: i.rtmax,
        rtpref: i.rtpref,
        rtmult: i.rtmult,
        wtmax: i.wtmax,
        wtpref: i.wtpref,
        wtmult: i.wtmult,
        dtpref: i.dtpref,
        maxfilesize: BigInt(i.maxFileSize),
        timeDelta: toNfsTime(i.timeDelta),
        properties: properties(i),
      };
    }),

    [Nfs3Proc.PATHCONF]: nfsProcedure(nfs, p.PATHCONF, pathconf3Res, async ({ object }, _call, onFailure) => {
      const id = nfs.idOf(object);
      onFailure(() => ({ objAttributes: nfs.postOp(id) }));
      const c = await fs.pathconf(id);
      return {
        objAttributes: nfs.postOp(id),
        linkmax: c.linkMax,
        nameMax: c.nameMax,
        noTrunc: c.noTrunc,
        chownRestricted: c.chownRestricted,
        caseInsensitive: c.caseInsensitive,
        casePreserving: c.casePreserving,
      };
    }),
  };
}
