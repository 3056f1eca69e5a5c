// File attributes as plain values, built from what S3 says (size, LastModified) and the export's
// options (owner, modes). S3 has no owners or permissions: every file gets the same ones.

import type { EntryKind } from './handle-store.js';

/** Seconds and nanoseconds since the epoch, as NFS carries them. */
export interface FsTime {
  sec: number;
  nsec: number;
}

export interface FileAttributes {
  type: EntryKind;
  /** Permission bits only (e.g. 0o644); the type is `type`. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** Bytes. Numbers are exact up to 2^53, far beyond S3's 5 TiB objects. */
  size: number;
  /** Bytes of storage the file uses (what `du` reports). */
  used: number;
  fileid: bigint;
  atime: FsTime;
  mtime: FsTime;
  ctime: FsTime;
}

export interface OwnershipOptions {
  uid: number;
  gid: number;
  /** Permission bits of files, default 0o644. */
  fileMode: number;
  /** Permission bits of directories, default 0o755. */
  dirMode: number;
}

export const DEFAULT_OWNERSHIP: OwnershipOptions = { uid: 0, gid: 0, fileMode: 0o644, dirMode: 0o755 };

const BLOCK = 4096;

export function timeFromMs(ms: number): FsTime {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.round((ms - sec * 1000) * 1_000_000) };
}

export function timeFromDate(date: Date): FsTime {
  return timeFromMs(date.getTime());
}

/**
 * An object's LastModified as a file time, in whole seconds: HEAD's Last-Modified header has
 * second precision while listings may carry milliseconds, and a file's mtime must not change
 * with the request that happened to report it (clients would drop their caches).
 */
export function timeFromObject(lastModified: Date): FsTime {
  return { sec: Math.floor(lastModified.getTime() / 1000), nsec: 0 };
}

export function compareTimes(a: FsTime, b: FsTime): number {
  return a.sec - b.sec || a.nsec - b.nsec;
}

/** A file's attributes: atime and ctime equal mtime (S3 keeps only LastModified). */
export function fileAttributes(fileid: bigint, size: number, mtime: FsTime, own: OwnershipOptions): FileAttributes {
  return {
    type: 'file',
    mode: own.fileMode,
    nlink: 1,
    uid: own.uid,
    gid: own.gid,
    size,
    used: Math.ceil(size / BLOCK) * BLOCK,
    fileid,
    atime: mtime,
    mtime,
    ctime: mtime,
  };
}

/**
 * A directory's attributes. `changed` is the directory's change stamp: when this server last saw
 * its contents change (or the mount time). NFS clients compare it to decide whether their cached
 * listing and negative lookups are still good, so it must move when the contents do.
 */
export function dirAttributes(fileid: bigint, changed: FsTime, own: OwnershipOptions): FileAttributes {
  return {
    type: 'dir',
    mode: own.dirMode,
    nlink: 2,
    uid: own.uid,
    gid: own.gid,
    size: BLOCK,
    used: BLOCK,
    fileid,
    atime: changed,
    mtime: changed,
    ctime: changed,
  };
}
