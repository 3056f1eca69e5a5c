// The kernel NFS client reads ahead only 128 KiB by default (Linux 5.4 on), which leaves about one 1 MiB
// READ in flight: a sequential reader then waits a round trip per MiB. Like efs-utils for Amazon EFS,
// `s3nfs mount` raises the read-ahead of the mount it makes; sysfs is the only knob (no mount option).

import { statSync, writeFileSync } from 'node:fs';

/** What efs-utils sets for EFS mounts: 15 MiB. */
export const DEFAULT_READ_AHEAD_KB = 15360;

/** The sysfs file that holds the read-ahead of the file system mounted at `dir`. */
export function readAheadFile(dir: string): string {
  const dev = statSync(dir, { bigint: true }).dev;
  // Linux's dev_t: major in bits 8–19 and 32–43, minor in bits 0–7 and 20–31 (glibc's gnu_dev_major/minor).
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `/sys/class/bdi/${major}:${minor}/read_ahead_kb`;
}

/** Sets the read-ahead of the mount at `dir`; returns why it could not, or undefined when it did. */
export function setReadAhead(dir: string, kb: number, write = writeFileSync): string | undefined {
  let file: string;
  try {
    file = readAheadFile(dir);
    write(file, `${kb}\n`);
  } catch (err) {
    return `could not set the read-ahead of ${dir} to ${kb} KiB (${err instanceof Error ? err.message : String(err)}); reads stay at the kernel's default`;
  }
  return undefined;
}
