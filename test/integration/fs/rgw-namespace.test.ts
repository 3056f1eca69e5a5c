// The namespace against a real S3 server (Ceph RGW in the test command): odd keys (spaces, unicode,
// %, +, control characters, invalid names, names sorting around '/') seeded under a unique prefix,
// then the tree served through READDIRPLUS + LOOKUP with small LIST pages is compared with the
// reference model, before and after out-of-band changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { S3FileSystem } from '../../../src/fs/file-system.js';
import { HandleStore } from '../../../src/fs/handle-store.js';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { sortedEntries, walkTree, withTempDir } from '../../unit/fs/fs-helpers.js';
import { flatten, materialize, type RemoteObject } from '../../unit/fs/reference-model.js';

const endpoint = process.env.S3NFS_TEST_ENDPOINT;
const bucket = process.env.S3NFS_TEST_BUCKET;
const NO_SERVER = 'S3NFS_TEST_ENDPOINT / S3NFS_TEST_BUCKET are not set (scripts/test.sh starts a local Ceph RGW)';

const ODD_KEYS = [
  'plain.txt',
  'with space.txt',
  'dir with space/inner file',
  'unicodé/ñandú.txt',
  '😀/emoji 😀.bin',
  '中文/文件.txt',
  'percent%20not-a-space',
  'percent%2Fnot-a-slash',
  'plus+sign',
  'amp&ersand',
  'question?mark',
  'hash#tag',
  'tilde~',
  'quote"s and \'apostrophes\'',
  'tab\there',
  'ctrl\u0001char',
  'new\nline',
  // Names sorting around '/': a-, a., a0 before/after a/.
  'a',
  'a-',
  'a.b',
  'a0',
  'a/inside',
  'a-/inside',
  // Shadowing: the directory wins.
  'blue',
  'blue/image.jpg',
  // Directory markers and empty components.
  'red/',
  'green/',
  'green/leaf',
  'x//double',
  // Invalid names: hidden, with their valid ancestors still shown.
  '.',
  '..',
  'dots/./hidden',
  'dots/../hidden',
  'dots/ok',
  'long/' + 'L'.repeat(256),
  'long/' + 'é'.repeat(127),
];

function remoteModel(contents: Map<string, number>): Map<string, RemoteObject> {
  return new Map([...contents].map(([k, size]) => [k, { size }]));
}

test('READDIRPLUS + LOOKUP over odd keys on a real S3 server match the reference model', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `fs-namespace-${randomBytes(6).toString('hex')}/`;
  const contents = new Map<string, number>();
  const put = async (rel: string, body: string) => {
    await store.put({ key: prefix + rel, body: Buffer.from(body) });
    contents.set(prefix + rel, Buffer.byteLength(body));
  };
  const del = async (rel: string) => {
    await store.delete(prefix + rel);
    contents.delete(prefix + rel);
  };
  try {
    await Promise.all(ODD_KEYS.map((rel, i) => put(rel, 'v'.repeat(i))));
    // A key beside the prefix, which the mount must not show.
    await store.put({ key: prefix.slice(0, -1) + '-sibling', body: Buffer.from('no') });

    await withTempDir(async (stateDir) => {
      const handles = await HandleStore.open({ bucket, prefix, stateDir });
      const fs = new S3FileSystem({ store, handles, prefix, listPageSize: 2 });
      const check = async () => {
        const expected = flatten(materialize(remoteModel(contents), [], new Map(), prefix));
        const served = await walkTree(fs, { withAttributes: true, budget: () => 3 });
        assert.deepEqual(sortedEntries(served), sortedEntries(expected));
      };
      await check();

      // Bytes come back as written, through odd names.
      const dir = await fs.lookup(fs.rootId, '😀');
      const file = await fs.lookup(dir.id, 'emoji 😀.bin');
      const got = await fs.read(file.id, 0, 1024);
      assert.equal(got.data.toString(), 'v'.repeat(ODD_KEYS.indexOf('😀/emoji 😀.bin')));
      assert.equal(got.eof, true);

      // Out-of-band changes by another S3 client: the next walk sees them.
      await del('blue/image.jpg'); // the blue file reappears
      await del('a/inside'); // a is a file again
      await put('new dir/new file', 'fresh');
      await put('red/now-with-child', 'c');
      await check();
      await handles.close();
    });
  } finally {
    await Promise.allSettled([...contents.keys()].map((k) => store.delete(k)));
    await store.delete(prefix.slice(0, -1) + '-sibling').catch(() => undefined);
    store.destroy();
  }
});

test('a hundred-odd keys paged with tiny LIST pages and tiny replies on a real S3 server: every name once', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `fs-paging-${randomBytes(6).toString('hex')}/`;
  const names: string[] = [];
  for (let i = 0; i < 120; i++) names.push(`${i % 3 === 0 ? 'f' : i % 3 === 1 ? 'f-' : 'f.'}${String(i).padStart(3, '0')}`);
  try {
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((n) => store.put({ key: prefix + n, body: Buffer.alloc(0) })));
    }
    const handles = await HandleStore.open({ bucket, prefix });
    const fs = new S3FileSystem({ store, handles, prefix, listPageSize: 7 });
    const served = await walkTree(fs, { withAttributes: true, budget: () => 4 });
    assert.deepEqual([...served.keys()].sort(), [...names].sort());
  } finally {
    for (let i = 0; i < names.length; i += 50) {
      await Promise.allSettled(names.slice(i, i + 50).map((n) => store.delete(prefix + n)));
    }
    store.destroy();
  }
});
