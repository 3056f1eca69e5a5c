// What every NFSv3 handler shares: the file system, the status mapper, the caller's identity, and
// `nfsProcedure`, which turns a handler that returns its resok (or throws) into a procedure whose
// reply always has the right arm: resok, or the status with the failure details the handler knew.

import type { NfsErrorStat3 } from '../../protocol/nfs3/constants.js';
import { NfsStat3 } from '../../protocol/nfs3/constants.js';
import type { NfsResult, NfsResultCodec } from '../../protocol/nfs3/types.js';
import type { ProcedureCodecs } from '../../protocol/program.js';
import { AuthFlavor } from '../../protocol/rpc.js';
import type { FileAttributes } from '../fs/attributes.js';
import type { Caller, FileSystem } from '../fs/file-system.js';
import type { Logger } from '../server/logger.js';
import { implement } from '../server/program.js';
import type { CallContext, CallCredentials, RpcProcedure } from '../server/program.js';
import { postOp, wcc } from './fattr.js';
import { StatusMapper } from './status.js';
import type { PostOpAttr, WccData } from '../../protocol/nfs3/attributes.js';

/** AUTH_NONE callers are treated as the conventional anonymous user. */
export const NOBODY = 65534;

/** The identity access checks use: AUTH_SYS uid/gid/gids as sent, anyone else is nobody. */
export function callerOf(cred: CallCredentials): Caller {
  if (cred.flavor === AuthFlavor.AUTH_SYS) return { uid: cred.sys.uid, gid: cred.sys.gid, gids: cred.sys.gids };
  return { uid: NOBODY, gid: NOBODY, gids: [] };
}

export class NfsContext {
  readonly statuses: StatusMapper;

  constructor(
    readonly fs: FileSystem,
    readonly logger: Logger,
  ) {
    this.statuses = new StatusMapper(logger);
  }

  /** The file id a handle names (throws FsError BADHANDLE or STALE). */
  idOf(handle: Buffer): bigint {
    return this.fs.idForHandle(handle);
  }

  /** What the server knows of an object without asking S3; undefined when unknown. */
  known(id: bigint | undefined): FileAttributes | undefined {
    if (id === undefined) return undefined;
    try {
      return this.fs.cachedAttributes(id);
    } catch {
      return undefined;
    }
  }

  /** post_op_attr from what is known. */
  postOp(id: bigint | undefined): PostOpAttr {
    return postOp(this.known(id), this.fs.exportId);
  }

  attr(a: FileAttributes | undefined): PostOpAttr {
    return postOp(a, this.fs.exportId);
  }

  /** wcc_data from attributes taken before and (known) after a change. */
  wcc(before: FileAttributes | undefined, after: FileAttributes | undefined): WccData {
    return wcc(before, after, this.fs.exportId);
  }
}

/** Lets a handler say, as it learns things, what its failure arm should carry. */
export type OnFailure<FAIL> = (details: () => FAIL) => void;

export type NfsHandler<A, OK, FAIL> = (args: A, call: CallContext, onFailure: OnFailure<FAIL>) => Promise<OK>;

/**
 * A procedure whose handler returns the resok or throws. FsErrors become their nfsstat3 (logged by
 * the status mapper), anything else SERVERFAULT; the failure arm comes from the details the
 * handler registered last, or is empty.
 */
export function nfsProcedure<A, OK, FAIL>(
  nfs: NfsContext,
  codecs: ProcedureCodecs<A, NfsResult<OK, FAIL>>,
  /** Builds the empty failure arm (any result codec of the procedure will do: only `fail` is used). */
  failures: Pick<NfsResultCodec<OK, FAIL>, 'fail'>,
  handler: NfsHandler<A, OK, FAIL>,
): RpcProcedure {
  return implement(codecs, async (args, call): Promise<NfsResult<OK, FAIL>> => {
    let details: (() => FAIL) | undefined;
    try {
      const resok = await handler(args, call, (d) => {
        details = d;
      });
      return { status: NfsStat3.NFS3_OK, resok };
    } catch (err) {
      const status: NfsErrorStat3 = nfs.statuses.statusFor(err, {
        procedure: codecs.name,
        xid: call.xid,
        client: call.client.address,
      });
      if (!details) return failures.fail(status);
      try {
        return { status, resfail: details() };
      } catch (detailsErr) {
        nfs.logger.error(`${codecs.name}: building the failure reply failed`, { xid: call.xid, err: detailsErr });
        return failures.fail(status);
      }
    }
  });
}
