import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFsError } from '../../../../src/fs/errors.js';
import { WriteLocalState } from '../../../../src/fs/write/write-local-state.js';
import { memoryStore, openWritePath, tempDir } from './helpers.js';

test('staged files and their parent directories are local state under the export prefix', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store, { retainPublishedMs: 3_600_000 });
  const local = new WriteLocalState(wp, store, 'export/');
  await wp.create('export/a/b/deep.txt', { mode: 'unchecked' });
  await wp.write('export/a/b/deep.txt', 0, Buffer.from('12345'), 'unstable');
  await wp.create('export/a/top.txt', { mode: 'unchecked' });
  await wp.create('elsewhere/x', { mode: 'unchecked' });
  local.addDirectory('made/here');

  assert.equal(local.isLocalDirectory('a'), true);
  assert.equal(local.isLocalDirectory('a/b'), true);
  assert.equal(local.isLocalDirectory('a/top.txt'), false);
  assert.equal(local.isLocalDirectory('made'), true);
  assert.equal(local.isLocalDirectory('elsewhere'), false, 'keys outside the export are not ours');
  assert.equal(local.localFile('a/b/deep.txt')?.size, 5);
  assert.equal(local.localFile('a/b'), undefined);

  const names = (dir: string) =>
    local
      .localChildren(dir)
      .map((e) => `${e.name}:${e.kind}`)
      .sort();
  assert.deepEqual(names(''), ['a:dir', 'made:dir']);
  assert.deepEqual(names('a'), ['b:dir', 'top.txt:file']);
  assert.deepEqual(names('made'), ['here:dir']);
  assert.deepEqual((await local.readLocalFile('a/b/deep.txt', 1, 3)).data.toString(), '234');

  local.removeDirectory('made/here');
  assert.deepEqual(names('made'), []);
});

test('a read that races the drop of a published copy reads the published object', async (t) => {
  const store = memoryStore();
  const wp = await openWritePath(t, await tempDir(t), store); // drops right after publishing
  const local = new WriteLocalState(wp, store, '');
  await wp.create('f', { mode: 'unchecked' });
  await wp.write('f', 0, Buffer.from('published bytes'), 'file_sync');
  await wp.flush('f');
  assert.equal(local.localFile('f'), undefined);
  const got = await local.readLocalFile('f', 10, 100);
  assert.equal(got.data.toString(), 'bytes');
  assert.equal(got.eof, true);
  store.putSync('f', 'someone else replaced it');
  await assert.rejects(local.readLocalFile('f', 0, 4), (e) => isFsError(e, 'STALE'));
  await assert.rejects(local.readLocalFile('never', 0, 4), (e) => isFsError(e, 'STALE'));
});
