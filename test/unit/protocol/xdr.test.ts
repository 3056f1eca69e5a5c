import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  XdrReader,
  XdrWriter,
  XdrError,
  array,
  decode,
  encode,
  list,
  opaque,
  optional,
  string,
  struct,
  uint32,
  uint64,
  union,
  xvoid,
} from '../../../protocol/xdr.js';

test('primitives encode big-endian and pad opaque data to 4 bytes', () => {
  const w = new XdrWriter();
  w.uint32(1).int32(-2).uint64(0x0102030405060708n).bool(true).opaqueVar(Buffer.from('abcde'));
  assert.deepEqual(
    w.toBuffer(),
    Buffer.from(
      '00000001' + 'fffffffe' + '0102030405060708' + '00000001' + '00000005' + '6162636465000000',
      'hex',
    ),
  );
});

test('large opaque payloads are kept by reference, not copied', () => {
  const payload = Buffer.alloc(64 * 1024, 7);
  const w = new XdrWriter();
  w.uint32(9).opaqueVar(payload).uint32(10);
  const parts = w.toBuffers();
  assert.ok(parts.includes(payload), 'payload buffer itself is one of the output buffers');
  assert.equal(w.length, 4 + 4 + payload.length + 4);
});

test('reader returns opaque data as a view of its input', () => {
  const buf = Buffer.from('0000000361626300', 'hex');
  const r = new XdrReader(buf);
  const o = r.opaqueVar(10);
  assert.equal(o.toString(), 'abc');
  assert.equal(o.buffer, buf.buffer);
});

test('lengths are checked against the limit and the remaining bytes before allocating', () => {
  assert.throws(() => new XdrReader(Buffer.from('00000010', 'hex')).opaqueVar(8), XdrError);
  assert.throws(() => new XdrReader(Buffer.from('0000000800', 'hex')).opaqueVar(100), XdrError);
  assert.throws(() => decode(array(uint32, 1 << 30), Buffer.from('7fffffff', 'hex')), XdrError);
});

test('unknown union discriminants are rejected unless there is a default arm', () => {
  const u = union('u', { 1: uint32, 2: xvoid });
  assert.deepEqual(decode(u, Buffer.from('0000000100000005', 'hex')), { tag: 1, value: 5 });
  assert.throws(() => decode(u, Buffer.from('00000003', 'hex')), XdrError);
  const withDefault = union('u', { 0: uint32 }, string(10));
  assert.deepEqual(decode(withDefault, encode(withDefault, { tag: 7, value: 'x' })), { tag: 7, value: 'x' });
});

test('property: decode(encode(x)) == x for a struct of every combinator', () => {
  const codec = struct({
    a: uint32,
    b: uint64,
    c: opaque(64),
    d: optional(string(32)),
    e: array(uint32, 16),
    f: list(uint64, 16),
  });
  fc.assert(
    fc.property(
      fc.record({
        a: fc.integer({ min: 0, max: 0xffffffff }),
        b: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        c: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
        d: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
        e: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 16 }),
        f: fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 16 }),
      }),
      (v) => {
        assert.deepEqual(decode(codec, encode(codec, v)), { ...v }); // fast-check records have a null prototype
      },
    ),
  );
});
