import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeyIndex } from '../../../../src/fs/write/key-index.js';

// Keys from a tiny alphabet so that prefixes collide often.
const key = fc
  .array(fc.constantFrom('a', 'b', 'a/', 'b/', '/'), { minLength: 1, maxLength: 5 })
  .map((parts) => parts.join(''))
  .filter((k) => !k.endsWith('/'));

test('KeyIndex answers like a scan of the key set', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), key), { maxLength: 40 }), (ops) => {
      const index = new KeyIndex();
      const keys = new Set<string>();
      for (const [add, k] of ops) {
        if (add && !keys.has(k)) {
          keys.add(k);
          index.add(k);
        } else if (!add && keys.has(k)) {
          keys.delete(k);
          index.remove(k);
        }
      }
      const prefixes = new Set<string>(['']);
      for (const k of keys) {
        for (let i = k.indexOf('/'); i >= 0; i = k.indexOf('/', i + 1)) prefixes.add(k.slice(0, i + 1));
      }
      for (const p of [...prefixes, 'a/', 'b/', 'a/b/', 'zz/']) {
        const under = [...keys].filter((k) => k.startsWith(p));
        assert.equal(index.hasUnder(p), under.length > 0, `hasUnder(${p})`);
        const files = under.filter((k) => !k.slice(p.length).includes('/')).sort();
        const deeper = under.map((k) => k.slice(p.length)).filter((rest) => rest.includes('/'));
        const dirs = [...new Set(deeper.map((rest) => p + rest.split('/')[0] + '/'))].sort();
        const got = index.children(p);
        assert.deepEqual([...got.files].sort(), files, `files(${p})`);
        assert.deepEqual([...got.dirs].sort(), dirs, `dirs(${p})`);
      }
    }),
    { numRuns: 300 },
  );
});
