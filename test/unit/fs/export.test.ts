// openExport as a whole: the state directory lock (a second server on the same directory is
// refused; a dead one's lock is taken over), recovery of staged files at start, and shutdown.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile as writeFileOnDisk } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openExport } from '../../../src/fs/export.js';
import { LOCK_FILE, StateDirInUseError } from '../../../src/fs/state-lock.js';
import { FaultInjectingObjectStore } from '../../../src/s3/faulty-store.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import type { MemoryAccount } from '../../../src/s3/object-store.js';
import { MemoryBudget } from '../../../src/fs/read/memory-budget.js';
import { lookupPath, openTestExport, stateDirFor, writeFile } from './export-helpers.js';

const CHILD = fileURLToPath(new URL('./export-child.js', import.meta.url));

function isInUse(pid?: number) {
  return (e: unknown) => {
    assert.ok(e instanceof StateDirInUseError, `expected StateDirInUseError, got ${String(e)}`);
    if (pid !== undefined) assert.equal(e.holder?.pid, pid);
    assert.match(e.message, /in use|already open/);
    return true;
  };
}

/** Starts export-child.js on `stateDir` and resolves once it has written its file. */
async function startChild(stateDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CHILD, stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('ready\n')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the child exited (${code}) before it was ready`)));
  });
  clearTimeout(guard);
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

test('a second openExport on the same state directory in this process is refused; after shutdown it opens', async (t) => {
  const stateDir = await stateDirFor(t);
  const memory = new MemoryObjectStore();
  const first = await openExport({ store: memory, bucket: 'bucket', stateDir });
  await assert.rejects(openExport({ store: memory, bucket: 'bucket', stateDir }), isInUse());
  // Another export of the same server may share the directory.
  const other = await openExport({ store: memory, bucket: 'bucket', prefix: 'other/', stateDir });
  await first.shutdown();
  await first.shutdown(); // idempotent
  const again = await openExport({ store: memory, bucket: 'bucket', stateDir });
  await again.shutdown();
  await other.shutdown();
});

test('another live server holds the state directory: refused, naming it; once it is killed, its staged file is recovered and published', async (t) => {
  const stateDir = await stateDirFor(t);
  const child = await startChild(stateDir);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const memory = new MemoryObjectStore();
  await assert.rejects(openExport({ store: memory, bucket: 'bucket', stateDir }), isInUse(child.pid));
  const lock = JSON.parse(await readFile(path.join(stateDir, LOCK_FILE), 'utf8')) as { pid: number };
  assert.equal(lock.pid, child.pid);

  await kill9(child);
  const exp = await openTestExport(t, { stateDir, memory });
  // Before publishing, the recovered file reads from staging (read-your-writes across the restart).
  const f = await lookupPath(exp.fs, 'from-child.txt');
  assert.equal((await exp.fs.read(f.id, 0, 100)).data.toString(), 'written by the child\n');
  assert.equal(memory.getSync('from-child.txt'), undefined);
  assert.deepEqual(await exp.flush(), [{ key: 'from-child.txt', outcome: 'published' }]);
  assert.equal(memory.getSync('from-child.txt')!.toString(), 'written by the child\n');
  const lockNow = JSON.parse(await readFile(path.join(stateDir, LOCK_FILE), 'utf8')) as { pid: number };
  assert.equal(lockNow.pid, process.pid, 'the stale lock was taken over');
});

test('a lock left by a process that is gone is stale; an unreadable lock is respected', async (t) => {
  const stateDir = await stateDirFor(t);
  const gone = spawn(process.execPath, ['-e', '']);
  await new Promise<void>((resolve) => gone.on('exit', () => resolve()));
  const lockPath = path.join(stateDir, LOCK_FILE);
  const { hostname } = await import('node:os');
  await writeFileOnDisk(lockPath, JSON.stringify({ pid: gone.pid, host: hostname(), token: 'x', since: 'then' }));
  const exp = await openExport({ store: new MemoryObjectStore(), bucket: 'bucket', stateDir });
  await exp.shutdown();
  await assert.rejects(readFile(lockPath), { code: 'ENOENT' }, 'shutdown releases the lock');

  await writeFileOnDisk(lockPath, 'not a lock we wrote');
  await assert.rejects(openExport({ store: new MemoryObjectStore(), bucket: 'bucket', stateDir }), isInUse());
  await writeFileOnDisk(lockPath, JSON.stringify({ pid: 1, host: 'another-host', token: 'y', since: 'then' }));
  await assert.rejects(openExport({ store: new MemoryObjectStore(), bucket: 'bucket', stateDir }), isInUse(1));
});

test('restart: files shutdown could not publish stay staged and the next start publishes them', async (t) => {
  const stateDir = await stateDirFor(t);
  const memory = new MemoryObjectStore();
  const broken = new FaultInjectingObjectStore(memory);
  const first = await openExport({ store: broken, bucket: 'bucket', stateDir, publishDelayMs: 3_600_000 });
  const d = await first.fs.mkdir(first.fs.rootId, 'd', {});
  const made = await writeFile(first.fs, d.id, 'kept.txt', 'survives a failed shutdown');
  broken.inject({ error: 'Unavailable' });
  const report = await first.shutdown({ timeoutMs: 200 });
  assert.deepEqual(report.remaining, ['d/kept.txt']);
  assert.equal(memory.getSync('d/kept.txt'), undefined);

  // A short publish delay this time: the recovered file goes out on its own.
  const second = await openTestExport(t, { stateDir, memory, publishDelayMs: 10 });
  assert.equal(second.fs.handleFor(made.id).equals(first.fs.handleFor(made.id)), true, 'same handle after the restart');
  assert.equal((await second.fs.getattr(made.id)).size, 26, 'the old handle still works');
  const deadline = Date.now() + 10_000;
  while (memory.getSync('d/kept.txt') === undefined) {
    assert.ok(Date.now() < deadline, 'the recovered file was published');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(memory.getSync('d/kept.txt')!.toString(), 'survives a failed shutdown');
});

test('shutdown publishes pending writes and a read-only start leaves staged files alone', async (t) => {
  const stateDir = await stateDirFor(t);
  const memory = new MemoryObjectStore();
  const broken = new FaultInjectingObjectStore(memory);
  const first = await openExport({ store: broken, bucket: 'bucket', stateDir, publishDelayMs: 3_600_000 });
  await writeFile(first.fs, first.fs.rootId, 'pending', 'p');
  broken.inject({ error: 'Unavailable' });
  await first.shutdown({ timeoutMs: 100 });

  const lines: string[] = [];
  const { createLogger } = await import('../../../src/log/logger.js');
  const logger = createLogger({ level: 'warn', write: (line) => lines.push(line) });
  const readOnly = await openExport({ store: memory, bucket: 'bucket', stateDir, readOnly: true, logger });
  await assert.rejects(lookupPath(readOnly.fs, 'pending'));
  assert.ok(lines.some((l) => l.includes('staged files wait')), lines.join('\n'));
  await readOnly.shutdown();
  assert.equal(memory.getSync('pending'), undefined);

  const writer = await openExport({ store: memory, bucket: 'bucket', stateDir, publishDelayMs: 3_600_000 });
  await writeFile(writer.fs, writer.fs.rootId, 'second', 'two');
  const report = await writer.shutdown();
  assert.deepEqual(report.published.sort(), ['pending', 'second']);
  assert.equal(memory.getSync('pending')!.toString(), 'p');
  assert.equal(memory.getSync('second')!.toString(), 'two');
});

test('openExport charges the GET bodies its store keeps for reuse to the read budget (--memory-target)', async (t) => {
  class AccountedStore extends MemoryObjectStore {
    account: MemoryAccount | undefined;
    holdRecycledIn(account: MemoryAccount): void {
      this.account = account;
    }
  }
  const store = new AccountedStore();
  const opened = await openExport({ store, bucket: 'bucket', stateDir: await stateDirFor(t), memoryTargetBytes: 96 << 20 });
  try {
    assert.ok(store.account instanceof MemoryBudget, 'the store got the budget');
    assert.equal(store.account.limit, 96 << 20);
  } finally {
    await opened.shutdown();
  }
});
