// The MOUNT program, version 3 (RFC 1813 appendix I): hands out the root file handle of an export
// (or of a directory inside it) and keeps the advisory lists of exports and mounts. Only version 3
// is served; a v1/v2 call gets PROG_MISMATCH (3, 3) from the RPC server, and the Linux client
// mounting with vers=3 asks for v3.

import { MOUNT3, MOUNT_PROGRAM, MOUNT_V3, MountProc, MountStat3 } from '../../protocol/mount.js';
import type { ExportNode, MountBody, Mountres3 } from '../../protocol/mount.js';
import { AuthFlavor } from '../../protocol/rpc.js';
import { FsError } from '../fs/errors.js';
import type { FsStatus } from '../fs/errors.js';
import type { Logger } from '../server/logger.js';
import { implement, nullProcedure } from '../server/program.js';
import type { CallContext, RpcProgram } from '../server/program.js';
import { MountList, findExport, normalizeMountPath } from './exports.js';
import type { Export, MountTarget } from './exports.js';

export interface MountProgramOptions {
  readonly exports: readonly Export[];
  readonly logger: Logger;
  /** Shared with whoever wants to show the mounts; a fresh one by default. */
  readonly mounts?: MountList;
}

/** Flavors offered to every client: AUTH_SYS only (the Linux client picks the first it knows). */
const AUTH_FLAVORS: readonly number[] = [AuthFlavor.AUTH_SYS];

type MountErrorStat = Exclude<MountStat3, typeof MountStat3.MNT3_OK>;

function mountStatusOf(status: FsStatus): MountErrorStat {
  switch (status) {
    case 'NOENT':
    case 'STALE':
      return MountStat3.MNT3ERR_NOENT;
    case 'NOTDIR':
      return MountStat3.MNT3ERR_NOTDIR;
    case 'ACCES':
      return MountStat3.MNT3ERR_ACCES;
    case 'PERM':
      return MountStat3.MNT3ERR_PERM;
    case 'NAMETOOLONG':
      return MountStat3.MNT3ERR_NAMETOOLONG;
    case 'IO':
    case 'JUKEBOX':
      return MountStat3.MNT3ERR_IO;
    default:
      return MountStat3.MNT3ERR_SERVERFAULT;
  }
}

/** The file id of the directory a MNT names, following its components from the export's root. */
async function resolveDirectory(target: MountTarget): Promise<bigint> {
  const { fs } = target.export;
  let id = fs.rootId;
  for (const name of target.components) id = (await fs.lookup(id, name)).id;
  if ((await fs.getattr(id)).type !== 'dir') throw new FsError('NOTDIR', 'a file cannot be mounted');
  return id;
}

export function mountProgram(options: MountProgramOptions): RpcProgram {
  const { exports, logger } = options;
  const mounts = options.mounts ?? new MountList();
  const p = MOUNT3.procedures;

  const mnt = async (dirpath: string, call: CallContext): Promise<Mountres3> => {
    const target = findExport(exports, dirpath);
    if (!target) {
      logger.info('MNT of a path that is not exported', {
        client: call.client.address,
        path: dirpath,
        exports: exports.map((e) => e.path).join(','),
      });
      return { status: MountStat3.MNT3ERR_NOENT };
    }
    let id: bigint;
    try {
      id = await resolveDirectory(target);
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      logger.info('MNT refused', { client: call.client.address, path: dirpath, status: err.status, reason: err.reason });
      return { status: mountStatusOf(err.status) };
    }
    mounts.add(call.client.address, normalizeMountPath(dirpath));
    logger.info('client mounted', { client: call.client.address, path: dirpath });
    const { fs } = target.export;
    return { status: MountStat3.MNT3_OK, mountinfo: { fhandle: fs.handleFor(id), authFlavors: [...AUTH_FLAVORS] } };
  };

  return {
    name: 'mount',
    program: MOUNT_PROGRAM,
    versions: {
      [MOUNT_V3]: {
        [MountProc.NULL]: nullProcedure(),
        [MountProc.MNT]: implement(p.MNT, mnt),
        [MountProc.DUMP]: implement(p.DUMP, (): MountBody[] => mounts.list()),
        [MountProc.UMNT]: implement(p.UMNT, (dirpath, call): void => {
          mounts.remove(call.client.address, normalizeMountPath(dirpath));
          logger.debug('client unmounted', { client: call.client.address, path: dirpath });
        }),
        [MountProc.UMNTALL]: implement(p.UMNTALL, (_args, call): void => {
          mounts.removeHost(call.client.address);
          logger.debug('client unmounted everything', { client: call.client.address });
        }),
        // No groups: anyone the listener and admission policy let in may mount.
        [MountProc.EXPORT]: implement(p.EXPORT, (): ExportNode[] => exports.map((e) => ({ dir: e.path, groups: [] }))),
      },
    },
  };
}
