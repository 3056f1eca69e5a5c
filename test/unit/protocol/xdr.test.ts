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
  fixedArray,
  getUint64,
  int64,
  list,
  opaque,
  optional,
  string,
  struct,
  uint32,
  uint64,
  union,
  variant,
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

test('strings must be valid UTF-8 and padding must be zero, so decoding is canonical', () => {
  assert.equal(decode(string(8), Buffer.from('00000002c3a90000', 'hex')), 'é');
  for (const hex of ['00000001ff000000', '00000002c0af0000', '00000003eda08000']) {
    // a lone byte, an overlong encoding, a UTF-16 surrogate
    assert.throws(() => decode(string(8), Buffer.from(hex, 'hex')), XdrError, hex);
  }
  assert.throws(() => decode(opaque(8), Buffer.from('0000000161620000', 'hex')), XdrError);
  assert.throws(() => decode(opaque(8), Buffer.from('0000000161000001', 'hex')), XdrError);
});

test('errors say what kind of problem the input has', () => {
  const kind = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof XdrError);
      return e.kind;
    }
    return 'none';
  };
  assert.equal(kind(() => decode(uint32, Buffer.alloc(3))), 'short');
  assert.equal(kind(() => decode(opaque(4), Buffer.from('00000005', 'hex'))), 'limit');
  assert.equal(kind(() => decode(optional(uint32), Buffer.from('00000002', 'hex'))), 'invalid');
  assert.equal(kind(() => decode(uint32, Buffer.alloc(8))), 'trailing');
});

test('variant: a flat discriminated union', () => {
  const shape = variant('shape', 'kind', { 1: { r: uint32 }, 2: { w: uint32, h: uint32 }, 3: {} });
  assert.equal(encode(shape, { kind: 2, w: 3, h: 4 }).toString('hex'), '000000020000000300000004');
  assert.deepEqual(decode(shape, Buffer.from('0000000100000009', 'hex')), { kind: 1, r: 9 });
  assert.deepEqual(decode(shape, Buffer.from('00000003', 'hex')), { kind: 3 });
  assert.throws(() => decode(shape, Buffer.from('00000004', 'hex')), XdrError);
  assert.throws(() => encode(shape, { kind: 4 } as never), XdrError);
});

test('fixed arrays have no count on the wire', () => {
  const c = fixedArray(uint32, 3);
  assert.equal(encode(c, [1, 2, 3]).toString('hex'), '000000010000000200000003');
  assert.deepEqual(decode(c, encode(c, [1, 2, 3])), [1, 2, 3]);
  assert.throws(() => encode(c, [1, 2]), XdrError);
  assert.throws(() => decode(c, Buffer.alloc(8)), XdrError);
});

test('reserve/take let specialized codecs work on the buffers directly', () => {
  const w = new XdrWriter(8);
  w.uint32(1);
  const at = w.reserve(12); // does not fit in the first 8-byte chunk
  w.chunk.writeUInt32BE(2, at);
  w.chunk.writeBigUInt64BE(3n, at + 4);
  w.uint32(4);
  const bytes = w.toBuffer();
  assert.equal(bytes.toString('hex'), '00000001' + '00000002' + '0000000000000003' + '00000004');
  const r = new XdrReader(bytes);
  assert.equal(r.uint32(), 1);
  const t = r.take(12);
  assert.equal(t, 4);
  assert.equal(getUint64(r.buf, t + 4), 3n);
  assert.throws(() => r.take(8), XdrError);
});

test('property: 64-bit values round-trip at every magnitude, signed and unsigned', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (u, i) => {
      const c = struct({ u: uint64, i: int64 });
      const bytes = encode(c, { u, i });
      assert.equal(bytes.readBigUInt64BE(0), u);
      assert.equal(bytes.readBigInt64BE(8), i);
      assert.deepEqual(decode(c, bytes), { u, i });
    }),
  );
});

test('uint32At reads back any word written, across chunks and referenced payloads', () => {
  const payload = Buffer.alloc(64 * 1024, 0xab);
  const w = new XdrWriter(8); // a tiny first chunk: the words land in different chunks
  w.uint32(0xdeadbeef).uint32(7).uint32(8).opaqueVar(payload).uint32(0x01020304);
  const whole = Buffer.concat(w.toBuffers());
  for (const at of [0, 4, 8, 12, 14, 16 + payload.length - 2, whole.length - 4]) {
    assert.equal(w.uint32At(at), whole.readUInt32BE(at), `offset ${at}`);
  }
  assert.equal(w.uint32At(0), 0xdeadbeef);
  assert.equal(w.uint32At(whole.length - 3), undefined, 'fewer than 4 bytes after it');
  assert.equal(w.uint32At(-1), undefined);
  assert.equal(new XdrWriter().uint32At(0), undefined, 'nothing written');
});
