// Byte-range locks with POSIX (fcntl) semantics, in memory: per file, each owner's locks never
// overlap each other; setting a lock replaces the owner's own locks in its range (splitting them
// where needed) and merges with adjacent ones of the same kind; unlocking removes the owner's
// coverage of a range. Two owners conflict when their ranges overlap and either lock is exclusive.
// Ranges are [start, end) in bigints; a length of 0 means "to the end of the file, however long".

/** Past any file offset (2^64): the end of a lock whose length is 0. */
export const END_OF_FILE = 1n << 64n;

export interface LockOwner {
  /** Identifies the owner across calls: the client's address, its caller name, svid and owner handle. */
  readonly key: string;
  /** The client's IP address. */
  readonly address: string;
  /** For logs and TEST answers. */
  readonly host: string;
  readonly svid: number;
  readonly oh: Buffer;
}

export interface HeldLock {
  readonly owner: LockOwner;
  readonly exclusive: boolean;
  readonly start: bigint;
  /** Exclusive end; END_OF_FILE for "to the end". */
  readonly end: bigint;
}

export type LockOutcome = { readonly granted: true } | { readonly granted: false; readonly holder: HeldLock };

/** The [start, end) of an NLM (offset, len) pair. */
export function rangeOf(offset: bigint, len: bigint): { start: bigint; end: bigint } {
  const end = len === 0n ? END_OF_FILE : offset + len;
  return { start: offset, end: end > END_OF_FILE ? END_OF_FILE : end };
}

/** The NLM length of a range (0 for one that runs to the end). */
export function lengthOf(l: Pick<HeldLock, 'start' | 'end'>): bigint {
  return l.end >= END_OF_FILE ? 0n : l.end - l.start;
}

function overlaps(a: { start: bigint; end: bigint }, b: { start: bigint; end: bigint }): boolean {
  return a.start < b.end && b.start < a.end;
}

export class LockTable {
  /** Locks by file key (the file handle's bytes as hex). */
  private readonly files = new Map<string, HeldLock[]>();

  /** A lock of another owner that would keep this one from being granted, if any. */
  conflict(file: string, owner: LockOwner, exclusive: boolean, start: bigint, end: bigint): HeldLock | undefined {
    const range = { start, end };
    return this.files
      .get(file)
      ?.find((l) => l.owner.key !== owner.key && overlaps(l, range) && (exclusive || l.exclusive));
  }

  /** Grants the lock unless another owner's conflicts with it. */
  lock(file: string, owner: LockOwner, exclusive: boolean, start: bigint, end: bigint): LockOutcome {
    if (start >= end) return { granted: true };
    const holder = this.conflict(file, owner, exclusive, start, end);
    if (holder) return { granted: false, holder };
    const locks = this.withoutOwnerRange(this.files.get(file) ?? [], owner, start, end);
    // Merge with the owner's adjacent or touching locks of the same kind.
    let merged: HeldLock = { owner, exclusive, start, end };
    const rest: HeldLock[] = [];
    for (const l of locks) {
      if (l.owner.key === owner.key && l.exclusive === exclusive && l.start <= merged.end && merged.start <= l.end) {
        merged = {
          owner,
          exclusive,
          start: l.start < merged.start ? l.start : merged.start,
          end: l.end > merged.end ? l.end : merged.end,
        };
      } else {
        rest.push(l);
      }
    }
    rest.push(merged);
    this.files.set(file, rest);
    return { granted: true };
  }

  /** Releases the owner's locks within [start, end). */
  unlock(file: string, owner: LockOwner, start: bigint, end: bigint): void {
    const locks = this.files.get(file);
    if (!locks) return;
    const left = this.withoutOwnerRange(locks, owner, start, end);
    if (left.length === 0) this.files.delete(file);
    else this.files.set(file, left);
  }

  /** Drops every lock whose owner matches (a client that restarted); returns how many. */
  releaseWhere(match: (owner: LockOwner) => boolean): number {
    let n = 0;
    for (const [file, locks] of this.files) {
      const left = locks.filter((l) => !match(l.owner));
      n += locks.length - left.length;
      if (left.length === 0) this.files.delete(file);
      else this.files.set(file, left);
    }
    return n;
  }

  locksOf(file: string): readonly HeldLock[] {
    return this.files.get(file) ?? [];
  }

  /** Files with locks and locks in all (status, tests). */
  get size(): { files: number; locks: number } {
    let locks = 0;
    for (const l of this.files.values()) locks += l.length;
    return { files: this.files.size, locks };
  }

  /** The locks with the owner's part of [start, end) cut out (other owners' locks untouched). */
  private withoutOwnerRange(locks: readonly HeldLock[], owner: LockOwner, start: bigint, end: bigint): HeldLock[] {
    const out: HeldLock[] = [];
    for (const l of locks) {
      if (l.owner.key !== owner.key || !overlaps(l, { start, end })) {
        out.push(l);
        continue;
      }
      if (l.start < start) out.push({ ...l, end: start });
      if (l.end > end) out.push({ ...l, start: end });
    }
    return out;
  }
}
