// One server per state directory. Two servers sharing one would both publish the same staged files
// and append to the same handle logs, so the first one to start holds `<stateDir>/s3nfs.lock` and
// every later one is refused with a message naming the holder.
//
// The lock file holds the owner's pid and host. It is created complete in one step (written under a
// temporary name, then hard-linked into place, which fails if the lock exists), so nobody ever
// reads a half-written one. A lock whose process is gone (same host, no such pid) is stale and is
// taken over: a crashed or killed server does not block the next start. Several exports served by
// one process share the lock; the same export cannot be opened twice.

import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, realpath, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const LOCK_FILE = 's3nfs.lock';

interface LockContents {
  pid: number;
  host: string;
  /** Unique per acquisition, so a release never removes someone else's lock. */
  token: string;
  since: string;
}

/** Another server (or this one) holds the state directory. */
export class StateDirInUseError extends Error {
  constructor(
    message: string,
    readonly lockPath: string,
    readonly holder?: { pid: number; host: string },
  ) {
    super(message);
    this.name = 'StateDirInUseError';
  }
}

export interface StateDirLease {
  readonly lockPath: string;
  /** Gives this export's share back; the lock file goes with the last share. Idempotent. */
  release(): Promise<void>;
}

interface Holding {
  exports: Set<number>;
  /** Settles once the lock file is ours (or could not be taken). */
  taken: Promise<LockContents>;
}

/** State directories this process holds, by absolute path. */
const held = new Map<string, Holding>();

/** Takes (or shares, within this process) the lock on `stateDir` for one export. */
export async function lockStateDir(stateDir: string, exportId: number): Promise<StateDirLease> {
  await mkdir(stateDir, { recursive: true });
  // The real path, so two spellings of one directory are one lock in this process too.
  const dir = await realpath(stateDir);
  const lockPath = path.join(dir, LOCK_FILE);
  let holding = held.get(dir);
  if (!holding) {
    const fresh: Holding = { exports: new Set(), taken: takeLockFile(dir, lockPath) };
    held.set(dir, fresh);
    fresh.taken.catch(() => {
      if (held.get(dir) === fresh) held.delete(dir);
    });
    holding = fresh;
  }
  const label = exportId.toString(16).padStart(8, '0');
  if (holding.exports.has(exportId)) {
    throw new StateDirInUseError(`export ${label} is already open on state directory ${dir} in this process`, lockPath, {
      pid: process.pid,
      host: os.hostname(),
    });
  }
  holding.exports.add(exportId);
  const mine = holding;
  let contents: LockContents;
  try {
    contents = await mine.taken;
  } catch (err) {
    mine.exports.delete(exportId);
    throw err;
  }
  let released = false;
  return {
    lockPath,
    release: async () => {
      if (released) return;
      released = true;
      mine.exports.delete(exportId);
      if (mine.exports.size > 0 || held.get(dir) !== mine) return;
      held.delete(dir);
      await removeIfOurs(lockPath, contents.token);
    },
  };
}

async function takeLockFile(dir: string, lockPath: string): Promise<LockContents> {
  const contents: LockContents = {
    pid: process.pid,
    host: os.hostname(),
    token: randomBytes(8).toString('hex'),
    since: new Date().toISOString(),
  };
  const temp = `${lockPath}.${contents.token}.tmp`;
  await writeFile(temp, JSON.stringify(contents) + '\n', { mode: 0o644 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, lockPath);
        return contents;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readHolder(lockPath);
      if (holder === 'gone') continue; // released between our link and our read
      if (attempt < 3 && holder !== undefined && isStale(holder)) {
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      const who = holder ? `s3nfs pid ${holder.pid} on ${holder.host} (since ${holder.since})` : 'another s3nfs';
      throw new StateDirInUseError(
        `state directory ${dir} is in use by ${who}; stop that server or give this one another --state-dir ` +
          `(if no server runs, remove ${lockPath})`,
        lockPath,
        holder ? { pid: holder.pid, host: holder.host } : undefined,
      );
    }
  } finally {
    await rm(temp, { force: true });
  }
}

/** The lock's contents; 'gone' when there is no lock file; undefined when it cannot be read as one. */
async function readHolder(lockPath: string): Promise<LockContents | 'gone' | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockContents>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.token === 'string') {
      return { pid: parsed.pid, host: parsed.host, token: parsed.token, since: String(parsed.since ?? '?') };
    }
  } catch {
    // not JSON: not ours to judge
  }
  return undefined;
}

/**
 * A lock left by a process that no longer runs. Only decidable on the same host. A lock naming
 * this very process that `held` does not know is left from an earlier holder whose pid we reuse.
 */
function isStale(holder: LockContents): boolean {
  if (holder.host !== os.hostname()) return false;
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function removeIfOurs(lockPath: string, token: string): Promise<void> {
  const holder = await readHolder(lockPath).catch(() => undefined);
  if (holder === 'gone' || holder === undefined || holder.token !== token) return;
  await unlink(lockPath).catch(() => undefined);
}
