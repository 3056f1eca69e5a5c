// File-system errors as values. src/fs speaks these statuses; src/nfs maps them to nfsstat3 in one
// place, so nothing below it knows about the wire.

import { isObjectStoreError } from '../s3/object-store.js';

/**
 * What went wrong, in file-system terms. The names follow POSIX/RFC 1813 so the mapping to nfsstat3
 * is one-to-one, but nothing here is an NFS number.
 */
export type FsStatus =
  | 'NOENT'
  | 'NOTDIR'
  | 'ISDIR'
  | 'EXIST'
  | 'NOTEMPTY'
  | 'ROFS'
  | 'PERM'
  | 'ACCES'
  | 'STALE'
  | 'BADHANDLE'
  | 'NAMETOOLONG'
  | 'INVAL'
  | 'FBIG'
  | 'NOSPC'
  | 'IO'
  | 'NOTSUPP'
  | 'SERVERFAULT'
  /** The server is busy (e.g. throttled by S3): the client should retry later. */
  | 'JUKEBOX'
  /** A READDIR cookie no longer belongs to a listing the server holds. */
  | 'BAD_COOKIE'
  /** A guarded SETATTR found the ctime changed. */
  | 'NOT_SYNC'
  /** A READDIR reply budget too small for even one entry. */
  | 'TOOSMALL';

export class FsError extends Error {
  constructor(
    readonly status: FsStatus,
    /** Why, for the log: never sent to the client. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${status}: ${reason}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FsError';
  }
}

export function isFsError(err: unknown, status?: FsStatus): err is FsError {
  return err instanceof FsError && (status === undefined || err.status === status);
}

export function fsError(status: FsStatus, reason: string, cause?: unknown): FsError {
  return new FsError(status, reason, cause === undefined ? undefined : { cause });
}

/**
 * Turns whatever an ObjectStore call threw into an FsError. Throttling becomes JUKEBOX so the client
 * retries later instead of failing the application; anything else S3-side is IO.
 */
export function fromStoreError(err: unknown, what: string): FsError {
  if (err instanceof FsError) return err;
  if (isObjectStoreError(err)) {
    switch (err.kind) {
      case 'Throttled':
        return fsError('JUKEBOX', `${what}: S3 is throttling: ${err.message}`, err);
      case 'AccessDenied':
        return fsError('ACCES', `${what}: S3 denied access: ${err.message}`, err);
      case 'NotFound':
        return fsError('NOENT', `${what}: ${err.message}`, err);
      default:
        return fsError('IO', `${what}: ${err.message}`, err);
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return fsError('IO', `${what}: ${message}`, err);
}
