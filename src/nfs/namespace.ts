// Procedures that search or change a directory (RFC 1813 sections 3.3.3, 3.3.5, 3.3.8-3.3.15):
// LOOKUP, READLINK, CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, RENAME, LINK. Directory
// changes answer wcc_data: the directory's attributes as this server knew them just before the
// call, and after it.

import { CreateMode3, Ftype3, NfsStat3, Nfs3Proc } from '../../protocol/nfs3/constants.js';
import type { Nfs3Program } from '../../protocol/nfs3/program.js';
import { readlink3Res } from '../../protocol/nfs3/metadata.js';
import {
  create3Res,
  link3Res,
  lookup3Res,
  mkdir3Res,
  mknod3Res,
  remove3Res,
  rename3Res,
  rmdir3Res,
  symlink3Res,
} from '../../protocol/nfs3/namespace.js';
import type { CreateHow3, MknodData3 } from '../../protocol/nfs3/namespace.js';
import type { CreateHow, LookupResult, SpecialFileType } from '../fs/file-system.js';
import type { RpcProcedure } from '../server/program.js';
import { nfsProcedure } from './context.js';
import type { NfsContext } from './context.js';
import { toSetAttributes } from './fattr.js';
import { NfsStatusError } from './status.js';

function createHow(how: CreateHow3): CreateHow {
  switch (how.mode) {
    case CreateMode3.UNCHECKED:
      return { mode: 'unchecked', attributes: toSetAttributes(how.objAttributes) };
    case CreateMode3.GUARDED:
      return { mode: 'guarded', attributes: toSetAttributes(how.objAttributes) };
    case CreateMode3.EXCLUSIVE:
      // A copy: the file system may keep the verifier, and the decoded one is a view of the whole request.
      return { mode: 'exclusive', verifier: Buffer.from(how.verf) };
  }
}

/** MKNOD makes only devices, sockets and FIFOs; other types are BADTYPE (RFC 1813 3.3.11). */
function specialType(what: MknodData3): SpecialFileType {
  switch (what.type) {
    case Ftype3.NF3CHR:
      return 'chr';
    case Ftype3.NF3BLK:
      return 'blk';
    case Ftype3.NF3SOCK:
      return 'sock';
    case Ftype3.NF3FIFO:
      return 'fifo';
    default:
      throw new NfsStatusError(NfsStat3.NFS3ERR_BADTYPE, `MKNOD cannot make an object of type ${what.type}`);
  }
}

export function namespaceProcedures(nfs: NfsContext, p: Nfs3Program['procedures']): Record<number, RpcProcedure> {
  const { fs } = nfs;

  /** The resok of CREATE, MKDIR, SYMLINK and MKNOD. */
  const created = (dirId: bigint, before: ReturnType<NfsContext['known']>, made: LookupResult) => ({
    obj: fs.handleFor(made.id),
    objAttributes: nfs.attr(made.attributes),
    dirWcc: nfs.wcc(before, made.dirAttributes ?? nfs.known(dirId)),
  });

  return {
    [Nfs3Proc.LOOKUP]: nfsProcedure(nfs, p.LOOKUP, lookup3Res, async ({ what }, _call, onFailure) => {
      const dirId = nfs.idOf(what.dir);
      onFailure(() => ({ dirAttributes: nfs.postOp(dirId) }));
      const found = await fs.lookup(dirId, what.name);
      return {
        object: fs.handleFor(found.id),
        objAttributes: nfs.attr(found.attributes),
        dirAttributes: found.dirAttributes ? nfs.attr(found.dirAttributes) : nfs.postOp(dirId),
      };
    }),

    [Nfs3Proc.READLINK]: nfsProcedure(nfs, p.READLINK, readlink3Res, async ({ symlink }, _call, onFailure) => {
      const id = nfs.idOf(symlink);
      onFailure(() => ({ symlinkAttributes: nfs.postOp(id) }));
      const data = await fs.readlink(id);
      return { symlinkAttributes: nfs.postOp(id), data };
    }),

    [Nfs3Proc.CREATE]: nfsProcedure(nfs, p.CREATE, create3Res, async ({ where, how }, _call, onFailure) => {
      const dirId = nfs.idOf(where.dir);
      const before = nfs.known(dirId);
      onFailure(() => ({ dirWcc: nfs.wcc(before, nfs.known(dirId)) }));
      return created(dirId, before, await fs.create(dirId, where.name, createHow(how)));
    }),

    [Nfs3Proc.MKDIR]: nfsProcedure(nfs, p.MKDIR, mkdir3Res, async ({ where, attributes }, _call, onFailure) => {
      const dirId = nfs.idOf(where.dir);
      const before = nfs.known(dirId);
      onFailure(() => ({ dirWcc: nfs.wcc(before, nfs.known(dirId)) }));
      return created(dirId, before, await fs.mkdir(dirId, where.name, toSetAttributes(attributes)));
    }),

    [Nfs3Proc.SYMLINK]: nfsProcedure(nfs, p.SYMLINK, symlink3Res, async ({ where, symlink }, _call, onFailure) => {
      const dirId = nfs.idOf(where.dir);
      const before = nfs.known(dirId);
      onFailure(() => ({ dirWcc: nfs.wcc(before, nfs.known(dirId)) }));
      const made = await fs.symlink(dirId, where.name, symlink.symlinkData, toSetAttributes(symlink.symlinkAttributes));
      return created(dirId, before, made);
    }),

    [Nfs3Proc.MKNOD]: nfsProcedure(nfs, p.MKNOD, mknod3Res, async ({ where, what }, _call, onFailure) => {
      const dirId = nfs.idOf(where.dir);
      const before = nfs.known(dirId);
      onFailure(() => ({ dirWcc: nfs.wcc(before, nfs.known(dirId)) }));
      return created(dirId, before, await fs.mknod(dirId, where.name, specialType(what)));
    }),

    [Nfs3Proc.REMOVE]: nfsProcedure(nfs, p.REMOVE, remove3Res, async ({ object }, _call, onFailure) => {
      const dirId = nfs.idOf(object.dir);
      const before = nfs.known(dirId);
      onFailure(() => ({ dirWcc: nfs.wcc(before, nfs.known(dirId)) }));
      await fs.remove(dirId, object.name);
      return { dirWcc: nfs.wcc(before, nfs.known(dirId)) };
    }),

    [Nfs3Proc.RMDIR]: nfsProcedure(nfs, p.RMDIR, rmdir3Res, async ({ object }, _call, onFailure) => {
      const dirId = nfs.idOf(object.dir);
      const before = nfs.known(dirId);
      onFailure(() => ({ dirWcc: nfs.wcc(before, nfs.known(dirId)) }));
      await fs.rmdir(dirId, object.name);
      return { dirWcc: nfs.wcc(before, nfs.known(dirId)) };
    }),

    [Nfs3Proc.RENAME]: nfsProcedure(nfs, p.RENAME, rename3Res, async ({ from, to }, _call, onFailure) => {
      const fromId = nfs.idOf(from.dir);
      const fromBefore = nfs.known(fromId);
      let toId: bigint | undefined;
      let toBefore: ReturnType<NfsContext['known']>;
      onFailure(() => ({ fromdirWcc: nfs.wcc(fromBefore, nfs.known(fromId)), todirWcc: nfs.wcc(toBefore, nfs.known(toId)) }));
      toId = nfs.idOf(to.dir);
      toBefore = nfs.known(toId);
      await fs.rename(fromId, from.name, toId, to.name);
      return { fromdirWcc: nfs.wcc(fromBefore, nfs.known(fromId)), todirWcc: nfs.wcc(toBefore, nfs.known(toId)) };
    }),

    [Nfs3Proc.LINK]: nfsProcedure(nfs, p.LINK, link3Res, async ({ file, link }, _call, onFailure) => {
      const id = nfs.idOf(file);
      let dirId: bigint | undefined;
      let before: ReturnType<NfsContext['known']>;
      onFailure(() => ({ fileAttributes: nfs.postOp(id), linkdirWcc: nfs.wcc(before, nfs.known(dirId)) }));
      dirId = nfs.idOf(link.dir);
      before = nfs.known(dirId);
      await fs.link(id, dirId, link.name);
      return { fileAttributes: nfs.postOp(id), linkdirWcc: nfs.wcc(before, nfs.known(dirId)) };
    }),
  };
}
