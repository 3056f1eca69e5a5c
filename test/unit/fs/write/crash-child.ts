// Child process for kill9.test.ts: writes files through a WritePath without ever publishing and
// reports each COMMIT on stdout once it has returned, until the parent kills it with SIGKILL.
// Usage: node crash-child.js STAGING_DIR

import { WritePath } from '../../../../src/fs/write/write-path.js';
import { MemoryObjectStore } from '../../../../src/s3/memory-store.js';
import { crashFileData } from './crash-plan.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-child STAGING_DIR');

const wp = await WritePath.open({
  store: new MemoryObjectStore({ minPartSize: 1 }),
  stagingDir: dir,
  partSize: 16 * 1024,
  publishDelayMs: 3_600_000,
});

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let x = seed || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function writeRange(key: string, data: Buffer, start: number, end: number, seed: number): Promise<void> {
  const chunk = 4096;
  const offsets: number[] = [];
  for (let off = start; off < end; off += chunk) offsets.push(off);
  const writeAt = (off: number) => wp.write(key, off, data.subarray(off, Math.min(end, off + chunk)), 'unstable');
  await Promise.all(shuffled(offsets, seed).map(writeAt));
}

for (let i = 0; ; i++) {
  const { key, data, half } = crashFileData(i);
  await wp.create(key, { mode: 'unchecked' });
  process.stdout.write(`created ${key}\n`);
  await writeRange(key, data, 0, half, i);
  await wp.commit(key);
  process.stdout.write(`half ${key}\n`);
  await writeRange(key, data, half, data.length, i + 1);
  await wp.commit(key);
  process.stdout.write(`full ${key}\n`);
}
