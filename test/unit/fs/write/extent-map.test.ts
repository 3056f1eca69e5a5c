import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ExtentMap } from '../../../../src/fs/write/extent-map.js';

// The model: one boolean per byte.
function extentsOf(bits: boolean[]): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  let start = -1;
  for (let i = 0; i <= bits.length; i++) {
    const on = i < bits.length && bits[i];
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      out.push([start, i]);
      start = -1;
    }
  }
  return out;
}

const SPACE = 200;
const op = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fc.constant('add' as const), fc.nat(SPACE), fc.nat(40)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('truncate' as const), fc.nat(SPACE), fc.constant(0)) },
);

test('ExtentMap matches a byte-per-byte model under random adds and truncates', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.nat(SPACE), fc.nat(60), (ops, qs, ql) => {
      const map = new ExtentMap();
      let bits: boolean[] = [];
      for (const [kind, a, b] of ops) {
        if (kind === 'add') {
          map.add(a, a + b);
          for (let i = a; i < a + b; i++) bits[i] = true;
        } else {
          map.truncate(a);
          bits = bits.slice(0, a);
        }
      }
      bits = Array.from({ length: bits.length }, (_, i) => bits[i] === true);
      assert.deepEqual(map.extents(), extentsOf(bits));
      assert.equal(map.bytes, bits.filter(Boolean).length);
      const modelCovers = bits.length >= qs + ql && bits.slice(qs, qs + ql).every(Boolean);
      assert.equal(map.covers(qs, qs + ql), ql === 0 || modelCovers);
      // A round trip through JSON (the manifest) keeps it.
      assert.deepEqual(new ExtentMap(map.toJSON()).extents(), map.extents());
    }),
    { numRuns: 500 },
  );
});

test('ExtentMap merges touching ranges and ignores empty ones', () => {
  const m = new ExtentMap();
  m.add(10, 20);
  m.add(0, 10);
  m.add(20, 30);
  m.add(5, 5);
  assert.deepEqual(m.extents(), [[0, 30]]);
  assert.equal(m.end, 30);
  m.add(40, 50);
  assert.equal(m.count, 2);
  assert.equal(m.covers(0, 30), true);
  assert.equal(m.covers(25, 45), false);
});
