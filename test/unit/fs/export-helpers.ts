// Shared pieces for the FileSystem-level write tests: an export (openExport) over an in-memory
// bucket in a temporary state directory, shut down when the test ends, and small NFS-like helpers.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { isFsError, type FsStatus } from '../../../src/fs/errors.js';
import { openExport, type ExportOptions, type OpenExport } from '../../../src/fs/export.js';
import type { FileSystem, LookupResult } from '../../../src/fs/file-system.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';

/** Per test: things to close, in order (exports shut down before their directories go). */
const closers = new WeakMap<TestContext, Array<() => Promise<void>>>();

function closersOf(t: TestContext): Array<() => Promise<void>> {
  let list = closers.get(t);
  if (!list) {
    const fresh: Array<() => Promise<void>> = [];
    closers.set(t, fresh);
    t.after(async () => {
      for (const close of fresh.splice(0)) await close();
    });
    list = fresh;
  }
  return list;
}

/** A temporary state directory, removed when the test ends. */
export async function stateDirFor(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 's3nfs-export-'));
  closersOf(t).push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestExport extends OpenExport {
  memory: MemoryObjectStore;
  stateDir: string;
}

/**
 * An export over a memory bucket that never publishes on its own (tests flush), keeps no published
 * copies unless asked, and is shut down when the test ends (before its state directory goes).
 */
export async function openTestExport(
  t: TestContext,
  options: Partial<ExportOptions> & { memory?: MemoryObjectStore; stateDir?: string } = {},
): Promise<TestExport> {
  const memory = options.memory ?? new MemoryObjectStore({ minPartSize: 1, pageSize: 5 });
  const stateDir = options.stateDir ?? (await stateDirFor(t));
  const { memory: _m, stateDir: _s, ...rest } = options;
  const opened = await openExport({
    store: memory,
    bucket: 'bucket',
    stateDir,
    publishDelayMs: 3_600_000,
    writePartSize: 16 * 1024,
    memoryTargetBytes: 64 * 1024 * 1024,
    readTuning: { sweepIntervalMs: 0 },
    ...rest,
    writeTuning: { retainPublishedMs: 0, retryBaseMs: 5, retryMaxMs: 20, ...rest.writeTuning },
  });
  closersOf(t).unshift(() => opened.shutdown({ timeoutMs: 2000 }).then(() => undefined));
  return { ...opened, memory, stateDir };
}

export function rejectsWith(status: FsStatus) {
  return (e: unknown) => {
    assert.ok(isFsError(e, status), `expected ${status}, got ${String(e)}`);
    return true;
  };
}

/** LOOKUP along a path from the root. */
export async function lookupPath(fs: FileSystem, path: string): Promise<LookupResult> {
  let found: LookupResult = { id: fs.rootId, attributes: await fs.getattr(fs.rootId) };
  for (const name of path.split('/')) found = await fs.lookup(found.id, name);
  return found;
}

/** Names in a directory with their sizes (files) or 'dir', from one READDIRPLUS pass. */
export async function listing(fs: FileSystem, dirId: bigint): Promise<Record<string, number | 'dir'>> {
  const out: Record<string, number | 'dir'> = {};
  let cookie = 0n;
  let verifier = 0n;
  for (;;) {
    const reply = await fs.readdir(dirId, { cookie, verifier, withAttributes: true, maxEntries: 3 });
    for (const e of reply.entries) {
      if (e.name === '.' || e.name === '..') continue;
      out[e.name] = e.attributes!.type === 'dir' ? 'dir' : e.attributes!.size;
    }
    if (reply.eof) return out;
    cookie = reply.entries[reply.entries.length - 1]!.cookie;
    verifier = reply.verifier;
  }
}

/** CREATE (UNCHECKED, as `echo > f` sends it) and one FILE_SYNC WRITE. */
export async function writeFile(fs: FileSystem, dirId: bigint, name: string, text: string | Buffer): Promise<LookupResult> {
  const made = await fs.create(dirId, name, { mode: 'unchecked', attributes: { mode: 0o644 } });
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  if (data.length > 0) await fs.write(made.id, 0, data, 'file_sync');
  return made;
}
