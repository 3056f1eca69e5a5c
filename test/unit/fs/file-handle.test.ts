import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFsError } from '../../../src/fs/errors.js';
import { FILE_HANDLE_SIZE, decodeFileHandle, encodeFileHandle, exportIdFor } from '../../../src/fs/file-handle.js';

test('a handle is 24 bytes and round-trips its fields', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.nat({ max: 0xffffffff }), (exportId, fileId, generation) => {
      const bytes = encodeFileHandle({ exportId, fileId, generation });
      assert.equal(bytes.length, FILE_HANDLE_SIZE);
      assert.equal(bytes.length % 4, 0);
      assert.deepEqual(decodeFileHandle(bytes), { exportId, fileId, generation });
    }),
  );
});

test('wrong length, unknown format and mangled bytes are BADHANDLE', () => {
  const good = encodeFileHandle({ exportId: 7, fileId: 42n, generation: 9 });
  const badhandle = (b: Uint8Array) => assert.throws(() => decodeFileHandle(b), (e: unknown) => isFsError(e, 'BADHANDLE'));
  badhandle(good.subarray(0, 20));
  badhandle(Buffer.concat([good, Buffer.alloc(4)]));
  badhandle(Buffer.alloc(0));
  const otherVersion = Buffer.from(good);
  otherVersion[3] = 2;
  badhandle(otherVersion);
  for (let i = 0; i < FILE_HANDLE_SIZE; i++) {
    const flipped = Buffer.from(good);
    flipped[i]! ^= 0x10;
    badhandle(flipped);
  }
});

test('random bytes practically never decode', () => {
  let decoded = 0;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => {
      try {
        decodeFileHandle(bytes);
        decoded++;
      } catch (e) {
        assert.ok(isFsError(e, 'BADHANDLE'));
      }
    }),
    { numRuns: 5000 },
  );
  assert.equal(decoded, 0);
});

test('handles decode from a view into a bigger buffer (as XDR hands them over)', () => {
  const handle = encodeFileHandle({ exportId: 1, fileId: 5n, generation: 3 });
  const wire = Buffer.concat([Buffer.alloc(13), handle, Buffer.alloc(7)]);
  assert.deepEqual(decodeFileHandle(wire.subarray(13, 13 + FILE_HANDLE_SIZE)), { exportId: 1, fileId: 5n, generation: 3 });
});

test('export ids are derived from bucket and prefix', () => {
  assert.equal(exportIdFor('b', ''), exportIdFor('b', ''));
  assert.notEqual(exportIdFor('b', ''), exportIdFor('b', 'p/'));
  assert.notEqual(exportIdFor('b', ''), exportIdFor('c', ''));
  // The separator keeps ('ab', '') and ('a', 'b') apart.
  assert.notEqual(exportIdFor('ab', ''), exportIdFor('a', 'b'));
});
