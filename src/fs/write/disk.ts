// Local-disk steps the staging journal relies on: replace a small file atomically and durably, make a
// directory entry durable, and turn OS errors into file-system statuses (a full disk is NOSPC, never
// a generic IO error, so the client reports "No space left on device").

import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { FsError, fsError } from '../errors.js';

/**
 * Writes `data` to `file` so that after a crash the file holds either its old or its new contents:
 * write a temporary sibling, fsync it, rename it over `file`, fsync the directory.
 */
export async function writeFileDurably(file: string, data: Buffer): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await syncDir(path.dirname(file));
  } catch (err) {
    // Do not leave a half-written temporary behind taking the space a retry needs.
    await rm(tmp, { force: true }).catch(() => {});
    throw fromFsError(err, `writing ${file}`);
  }
}

/** Makes the directory's entries (creates, renames, deletes) durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The errno code of a Node fs error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Maps a local file-system failure to a status: out of space is NOSPC, too big is FBIG, else IO. */
export function fromFsError(err: unknown, what: string): FsError {
  if (err instanceof FsError) return err;
  const message = err instanceof Error ? err.message : String(err);
  switch (errnoCode(err)) {
    case 'ENOSPC':
    case 'EDQUOT':
      return fsError('NOSPC', `${what}: staging disk is full: ${message}`, err);
    case 'EFBIG':
      return fsError('FBIG', `${what}: ${message}`, err);
    default:
      return fsError('IO', `${what}: ${message}`, err);
  }
}
