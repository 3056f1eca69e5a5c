import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readAheadFile, setReadAhead } from '../../../src/cli/read-ahead.js';

/** The device of the file system holding `dir`, as util-linux prints it ("MAJ:MIN"). */
function findmntDevice(dir: string): string | undefined {
  try {
    return execFileSync('findmnt', ['-no', 'MAJ:MIN', '-T', dir], { encoding: 'utf8' }).trim().split('\n').at(-1)!.trim();
  } catch {
    return undefined;
  }
}

test('readAheadFile names the bdi of the file system a directory is on, as findmnt does', (t) => {
  let checked = 0;
  for (const dir of ['/', '/proc', '/sys', '/dev/shm', '/tmp']) {
    const dev = findmntDevice(dir);
    if (!dev) continue;
    assert.equal(readAheadFile(dir), `/sys/class/bdi/${dev}/read_ahead_kb`, dir);
    checked++;
  }
  if (checked === 0) t.skip('findmnt (util-linux) is not available here');
});

test('setReadAhead writes the number of KiB; a failure comes back as one sentence, not an exception', () => {
  const writes: [string, string][] = [];
  assert.equal(
    setReadAhead('/', 15360, (file, data) => void writes.push([String(file), String(data)])),
    undefined,
  );
  assert.deepEqual(writes, [[readAheadFile('/'), '15360\n']]);
  const why = setReadAhead('/', 4096, () => {
    throw new Error('EACCES: permission denied');
  });
  assert.match(why ?? '', /^could not set the read-ahead of \/ to 4096 KiB \(EACCES: permission denied\)/);
  assert.match(setReadAhead('/no/such/dir', 4096) ?? '', /could not set the read-ahead of \/no\/such\/dir/);
});
