import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  baseName,
  childPath,
  compareDirectoryOrder,
  compareUtf8,
  dirKeyPrefix,
  fileKey,
  isValidName,
  nameFromBytes,
  nameProblem,
  normalizePrefix,
  parentPath,
} from '../../../src/fs/names.js';
import { modelNameIsValid } from './reference-model.js';

test('valid names: non-empty, not . or .., no / or NUL, well-formed, at most 255 UTF-8 bytes', () => {
  for (const ok of ['a', 'a b', '...', '.hidden', 'é', '😀', '%41', 'a+b', 'x'.repeat(255), 'é'.repeat(127)]) {
    assert.equal(isValidName(ok), true, JSON.stringify(ok));
  }
  for (const bad of ['', '.', '..', 'a/b', 'a\0', '\0', 'x'.repeat(256), 'é'.repeat(128), '\uD800', 'a\uDC00b']) {
    assert.equal(isValidName(bad), false, JSON.stringify(bad));
  }
});

test('nameProblem tells too long from invalid', () => {
  assert.equal(nameProblem('ok'), undefined);
  assert.equal(nameProblem('x'.repeat(256)), 'toolong');
  assert.equal(nameProblem('..'), 'invalid');
  assert.equal(nameProblem('a\0'), 'invalid');
});

test('isValidName agrees with the reference model on arbitrary strings', () => {
  const alphabet = fc.constantFrom('a', '.', '/', '\0', 'é', '😀', '\uD800', '\uDFFF', ' ', 'x'.repeat(100));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.array(alphabet, { maxLength: 5 }).map((a) => a.join(''))), (s) => {
      assert.equal(isValidName(s), modelNameIsValid(s));
    }),
    { numRuns: 2000 },
  );
});

test('nameFromBytes decodes UTF-8 and refuses invalid UTF-8', () => {
  assert.equal(nameFromBytes(Buffer.from('héllo', 'utf8')), 'héllo');
  assert.equal(nameFromBytes(Buffer.from([0x61, 0xff])), undefined);
  assert.equal(nameFromBytes(Buffer.from([0xed, 0xa0, 0x80])), undefined); // an encoded surrogate
});

test('compareUtf8 is UTF-8 byte order (unlike JS string order above U+FFFF)', () => {
  assert.ok('\uFF61' > '\uD83D\uDE00'); // JS: code units
  assert.ok(compareUtf8('\uFF61', '\uD83D\uDE00') < 0); // bytes: EF BD A1 < F0 9F 98 80
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
      assert.equal(Math.sign(compareUtf8(a, b)), expected);
    }),
    { numRuns: 2000 },
  );
});

test('directory order sorts names as name + "/" so a- and a. come before a', () => {
  const names = ['a', 'a-', 'a.b', 'a0', 'b', 'a ', 'ab'];
  names.sort(compareDirectoryOrder);
  assert.deepEqual(names, ['a ', 'a-', 'a.b', 'a', 'a0', 'ab', 'b']);
});

test('paths and keys under a mount prefix', () => {
  assert.equal(normalizePrefix(''), '');
  assert.equal(normalizePrefix('/'), '');
  assert.equal(normalizePrefix('photos'), 'photos/');
  assert.equal(normalizePrefix('/photos/2024/'), 'photos/2024/');
  assert.equal(childPath('', 'a'), 'a');
  assert.equal(childPath('a', 'b'), 'a/b');
  assert.equal(parentPath('a/b/c'), 'a/b');
  assert.equal(parentPath('a'), '');
  assert.equal(baseName('a/b/c'), 'c');
  assert.equal(baseName('a'), 'a');
  assert.equal(fileKey('p/', 'a/b'), 'p/a/b');
  assert.equal(dirKeyPrefix('p/', ''), 'p/');
  assert.equal(dirKeyPrefix('p/', 'a'), 'p/a/');
  assert.equal(dirKeyPrefix('', ''), '');
});
