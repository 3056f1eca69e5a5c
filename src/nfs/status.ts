// The one place file-system statuses become nfsstat3, and where an answer other than NFS3_OK is
// logged: a refusal the client will see as an errno (ROFS, NOTSUPP…) gets one line at info the
// first time per procedure and status in a while, everything else goes to debug, and an exception
// that is not an FsError is a bug: SERVERFAULT, logged at error with the exception.

import { NfsStat3 } from '../../protocol/nfs3/constants.js';
import type { NfsErrorStat3 } from '../../protocol/nfs3/constants.js';
import { FsError } from '../fs/errors.js';
import type { FsStatus } from '../fs/errors.js';
import type { Logger } from '../server/logger.js';

const NFS_STATUS: Readonly<Record<FsStatus, NfsErrorStat3>> = {
  NOENT: NfsStat3.NFS3ERR_NOENT,
  NOTDIR: NfsStat3.NFS3ERR_NOTDIR,
  ISDIR: NfsStat3.NFS3ERR_ISDIR,
  EXIST: NfsStat3.NFS3ERR_EXIST,
  NOTEMPTY: NfsStat3.NFS3ERR_NOTEMPTY,
  ROFS: NfsStat3.NFS3ERR_ROFS,
  PERM: NfsStat3.NFS3ERR_PERM,
  ACCES: NfsStat3.NFS3ERR_ACCES,
  STALE: NfsStat3.NFS3ERR_STALE,
  BADHANDLE: NfsStat3.NFS3ERR_BADHANDLE,
  NAMETOOLONG: NfsStat3.NFS3ERR_NAMETOOLONG,
  INVAL: NfsStat3.NFS3ERR_INVAL,
  FBIG: NfsStat3.NFS3ERR_FBIG,
  NOSPC: NfsStat3.NFS3ERR_NOSPC,
  IO: NfsStat3.NFS3ERR_IO,
  NOTSUPP: NfsStat3.NFS3ERR_NOTSUPP,
  SERVERFAULT: NfsStat3.NFS3ERR_SERVERFAULT,
  JUKEBOX: NfsStat3.NFS3ERR_JUKEBOX,
  BAD_COOKIE: NfsStat3.NFS3ERR_BAD_COOKIE,
  NOT_SYNC: NfsStat3.NFS3ERR_NOT_SYNC,
  TOOSMALL: NfsStat3.NFS3ERR_TOOSMALL,
};

const NFS_STATUS_NAMES = new Map<number, string>(Object.entries(NfsStat3).map(([name, value]) => [value, name]));

/** The RFC name of an nfsstat3, e.g. NFS3ERR_ROFS (for log lines). */
export function nfsStatusName(status: number): string {
  return NFS_STATUS_NAMES.get(status) ?? String(status);
}

export function nfsStatusOf(status: FsStatus): NfsErrorStat3 {
  return NFS_STATUS[status];
}

/**
 * Statuses that mean "this server will not do that" rather than "that object is not so": worth
 * telling the operator why a client's operation failed (a read-only export, no symlinks on S3…).
 */
const REFUSALS: ReadonlySet<FsStatus> = new Set<FsStatus>(['ROFS', 'NOTSUPP', 'PERM', 'ACCES', 'IO', 'JUKEBOX', 'NOSPC', 'FBIG']);

/**
 * Procedures that make an object of a kind S3 cannot hold (symlinks, device nodes, hard links).
 * The Linux client shows NFS3ERR_NOTSUPP as "Unknown error 524"; a local file system without such
 * objects (vfat) answers EPERM, so these answer NFS3ERR_PERM instead.
 */
const PERM_INSTEAD_OF_NOTSUPP: ReadonlySet<string> = new Set(['SYMLINK', 'MKNOD', 'LINK']);

/** Logs a line at info once per key per interval, at debug otherwise (a busy client cannot flood the log). */
export class InfoOncePerKey {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 256,
    private readonly now: () => number = Date.now,
  ) {}

  log(key: string, message: string, fields: Readonly<Record<string, unknown>>): void {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && t - seen < this.intervalMs) {
      this.logger.debug(message, fields);
      return;
    }
    this.last.delete(key);
    if (this.last.size >= this.maxKeys) {
      const oldest = this.last.keys().next();
      if (!oldest.done) this.last.delete(oldest.value);
    }
    this.last.set(key, t);
    this.logger.info(message, fields);
  }
}

/**
 * A status with no file-system meaning (e.g. BADTYPE for MKNOD of a regular file): the NFS layer
 * throws it itself, so it still passes through the one mapping below.
 */
export class NfsStatusError extends Error {
  constructor(
    readonly status: NfsErrorStat3,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'NfsStatusError';
  }
}

/** Where a failure happened, for the log line. */
export interface FailureSite {
  readonly procedure: string;
  readonly xid: number;
  readonly client: string;
}

/** Turns anything a handler threw into the nfsstat3 of its reply, logging it as described above. */
export class StatusMapper {
  private readonly refusals: InfoOncePerKey;

  constructor(private readonly logger: Logger) {
    this.refusals = new InfoOncePerKey(logger);
  }

  statusFor(err: unknown, site: FailureSite): NfsErrorStat3 {
    if (err instanceof FsError) {
      const status =
        err.status === 'NOTSUPP' && PERM_INSTEAD_OF_NOTSUPP.has(site.procedure) ? NfsStat3.NFS3ERR_PERM : nfsStatusOf(err.status);
      const fields = { procedure: site.procedure, status: err.status, reason: err.reason, xid: site.xid, client: site.client };
      if (REFUSALS.has(err.status)) {
        this.refusals.log(`${site.procedure}/${err.status}`, `${site.procedure} answered ${nfsStatusName(status)}`, fields);
      } else {
        this.logger.debug(`${site.procedure} answered ${nfsStatusName(status)}`, fields);
      }
      return status;
    }
    if (err instanceof NfsStatusError) {
      this.logger.debug(`${site.procedure} answered ${nfsStatusName(err.status)}`, {
        procedure: site.procedure,
        reason: err.reason,
        xid: site.xid,
        client: site.client,
      });
      return err.status;
    }
    this.logger.error(`${site.procedure} failed unexpectedly; answering SERVERFAULT`, {
      procedure: site.procedure,
      xid: site.xid,
      client: site.client,
      err,
    });
    return NfsStat3.NFS3ERR_SERVERFAULT;
  }
}
