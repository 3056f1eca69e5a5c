// Errors of the read path, by kind. Store failures that say nothing about the object's version
// (Unavailable, Throttled, AccessDenied…) pass through as the ObjectStoreError they are.

export type ReadPathErrorKind =
  /** The object changed or disappeared since it was opened: the caller's view of it is stale. */
  | 'Stale'
  /** The prefetcher was closed (never seen through ReadPathManager, which opens a new one). */
  | 'Closed'
  /** The store answered with a body of the wrong length for the range and version asked for. */
  | 'ShortBody';

export class ReadPathError extends Error {
  constructor(
    readonly kind: ReadPathErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReadPathError';
  }
}

export function isReadPathError(err: unknown, kind?: ReadPathErrorKind): err is ReadPathError {
  return err instanceof ReadPathError && (kind === undefined || err.kind === kind);
}
