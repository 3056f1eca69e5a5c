// The seam between the file system and whatever reads object bytes. The prefetching read path
// (src/fs/read: ReadPathManager) fits this shape; DirectReadPath below is the simplest thing that
// does: one ranged GET per READ, pinned to the ETag the file was looked up with.

import { isObjectStoreError, type ObjectStore } from '../s3/object-store.js';
import { ReadPathError, isReadPathError } from './read/errors.js';

/** The object version to read. */
export interface ReadTarget {
  key: string;
  /** Size as the namespace knows it; reads are clamped to it. */
  size: number;
  /** The ETag the namespace saw; every GET carries If-Match with it. */
  etag?: string;
}

export interface ReadResult {
  data: Buffer;
  /** True when the data reaches the end of the object. */
  eof: boolean;
  /** Call once nothing reads `data` any more, so its buffer may be reused; optional to call. */
  release?: () => void;
}

export interface ReadPath {
  /**
   * Reads [offset, offset + count) of the target version. Rejects with ReadPathError 'Stale' when
   * the object no longer has that version (never returns bytes of another version).
   */
  read(file: bigint, target: ReadTarget, offset: number, count: number): Promise<ReadResult>;
  /** Forgets whatever is buffered for the file (it changed or went away). */
  invalidate(file: bigint): void;
}

/** The object changed or vanished under a read: the caller should look it up again. */
export function isStaleRead(err: unknown): boolean {
  return isReadPathError(err, 'Stale') || isObjectStoreError(err, 'PreconditionFailed') || isObjectStoreError(err, 'NotFound');
}

/** One ranged GET per read, with If-Match. No buffering, so nothing to invalidate. */
export class DirectReadPath implements ReadPath {
  constructor(private readonly store: ObjectStore) {}

  async read(_file: bigint, target: ReadTarget, offset: number, count: number): Promise<ReadResult> {
    const end = Math.min(offset + count, target.size);
    if (count <= 0 || offset >= end) return { data: Buffer.alloc(0), eof: offset + Math.max(count, 0) >= target.size };
    try {
      const got = await this.store.get({
        key: target.key,
        range: { start: offset, end },
        ...(target.etag === undefined ? {} : { ifMatch: target.etag }),
      });
      if (got.size !== target.size) {
        throw new ReadPathError('Stale', `${target.key} is now ${got.size} bytes, not ${target.size}`);
      }
      return {
        data: got.body,
        eof: offset + got.body.length >= target.size,
        release: () => this.store.recycle?.(got.body),
      };
    } catch (err) {
      if (isObjectStoreError(err, 'PreconditionFailed') || isObjectStoreError(err, 'NotFound') || isObjectStoreError(err, 'InvalidRange')) {
        throw new ReadPathError('Stale', `${target.key} changed or vanished during a read`, { cause: err });
      }
      throw err;
    }
  }

  invalidate(): void {}
}
