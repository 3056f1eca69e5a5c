// The NFS program, version 3 (RFC 1813): every procedure of the table, each answered by its
// family's module. NFSACL (100227) is deliberately not registered: the Linux client then never
// sends GETACL, and calls to it get PROG_UNAVAIL from the RPC server.

import { NFS_PROGRAM, NFS_V3, Nfs3Proc } from '../../protocol/nfs3/constants.js';
import { NFS3 } from '../../protocol/nfs3/program.js';
import type { Nfs3Program } from '../../protocol/nfs3/program.js';
import type { FileSystem } from '../fs/file-system.js';
import type { Logger } from '../server/logger.js';
import { nullProcedure } from '../server/program.js';
import type { RpcProgram } from '../server/program.js';
import { attributeProcedures } from './attributes.js';
import { NfsContext } from './context.js';
import { dataProcedures } from './data.js';
import { directoryProcedures } from './directories.js';
import { fsInfoProcedures } from './fs-info.js';
import { namespaceProcedures } from './namespace.js';

export interface NfsProgramOptions {
  readonly fs: FileSystem;
  readonly logger: Logger;
  /** The procedure table (e.g. with other READ/WRITE size bounds); default the standard one. */
  readonly table?: Nfs3Program;
}

export function nfsProgram(options: NfsProgramOptions): RpcProgram {
  const nfs = new NfsContext(options.fs, options.logger);
  const p = (options.table ?? NFS3).procedures;
  return {
    name: 'nfs',
    program: NFS_PROGRAM,
    versions: {
      [NFS_V3]: {
        [Nfs3Proc.NULL]: nullProcedure(),
        ...attributeProcedures(nfs, p),
        ...namespaceProcedures(nfs, p),
        ...dataProcedures(nfs, p),
        ...directoryProcedures(nfs, p),
        ...fsInfoProcedures(nfs, p),
      },
    },
  };
}
