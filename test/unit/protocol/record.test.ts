import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_FRAGMENT, RecordDecoder, RecordError, fragmentMark, frameRecord } from '../../../protocol/record.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('a mark carries the last-fragment bit and a 31-bit length', () => {
  assert.deepEqual(fragmentMark(5, true), hex('80000005'));
  assert.deepEqual(fragmentMark(5, false), hex('00000005'));
  assert.deepEqual(fragmentMark(MAX_FRAGMENT, true), hex('ffffffff'));
  assert.throws(() => fragmentMark(MAX_FRAGMENT + 1, true), RangeError);
  assert.throws(() => fragmentMark(-1, true), RangeError);
});

test('frameRecord puts one mark in front of the caller’s buffers, without copying them', () => {
  const a = Buffer.from('abc');
  const payload = Buffer.alloc(5000, 1);
  const framed = frameRecord([a, payload]);
  assert.equal(framed.length, 3);
  assert.deepEqual(framed[0], hex('8000138b'));
  assert.equal(framed[1], a);
  assert.equal(framed[2], payload);
});

test('frameRecord splits a record longer than maxFragment into fragments of views', () => {
  const a = Buffer.from('abcde');
  const b = Buffer.from('fgh');
  const framed = frameRecord([a, b], 3);
  assert.deepEqual(Buffer.concat(framed), Buffer.from('\0\0\0\x03abc\0\0\0\x03def\x80\0\0\x02gh', 'latin1'));
  // The views share memory with the inputs.
  assert.equal(framed[1]!.buffer, a.buffer);
});

test('a single-fragment record inside one chunk is returned as a view of that chunk', () => {
  const chunk = hex('80000004 01020304 80000000 80000002 0506');
  const d = new RecordDecoder({ maxRecordSize: 100 });
  const { records, error } = d.push(chunk);
  assert.equal(error, undefined);
  assert.deepEqual(records, [hex('01020304'), hex(''), hex('0506')]);
  assert.equal(records[0]!.buffer, chunk.buffer);
  assert.equal(records[0]!.byteOffset, chunk.byteOffset + 4);
  assert.ok(d.atRecordBoundary);
});

test('fragments of one record are joined, marks and data split anywhere across chunks', () => {
  const stream = hex('00000002 0102 0000 0000 80000003 030405');
  const d = new RecordDecoder({ maxRecordSize: 100 });
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) {
    const b = d.push(stream.subarray(i, i + 1));
    assert.equal(b.error, undefined);
    out.push(...b.records);
    if (i < stream.length - 1) assert.equal(out.length, 0);
  }
  assert.deepEqual(out, [hex('0102030405')]);
  assert.ok(d.atRecordBoundary);
});

test('a mark announcing more than the limit is refused at once, before its data arrives', () => {
  const d = new RecordDecoder({ maxRecordSize: 16 });
  const first = d.push(hex('80000002 abcd 80000011'));
  assert.deepEqual(first.records, [hex('abcd')]);
  assert.ok(first.error instanceof RecordError);
  assert.equal(first.error.kind, 'record-too-large');
  assert.equal(d.bufferedBytes, 0);
  // The decoder stays failed.
  const again = d.push(hex('80000001 00'));
  assert.deepEqual(again.records, []);
  assert.equal(again.error, first.error);
});

test('the limit applies to the sum of a record’s fragments', () => {
  const d = new RecordDecoder({ maxRecordSize: 8 });
  const ok = d.push(hex('00000004 01020304 80000004 05060708'));
  assert.deepEqual(ok.records, [hex('0102030405060708')]);
  const bad = d.push(hex('00000004 01020304 80000005'));
  assert.equal(bad.error?.kind, 'record-too-large');
  // A huge announced length (2^31-1) is refused the same way.
  const d2 = new RecordDecoder({ maxRecordSize: 1 << 20 });
  assert.equal(d2.push(hex('ffffffff')).error?.kind, 'record-too-large');
});

/** Splits `stream` at the given cut points (any order, duplicates allowed). */
function chop(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    out.push(stream.subarray(prev, p));
    prev = p;
  }
  return out;
}

test('property: any chunking of a stream of framed records yields the same records', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 12 }),
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (records, maxFragment, cuts) => {
        const stream = Buffer.concat(records.flatMap((r) => frameRecord([Buffer.from(r)], maxFragment)));
        const d = new RecordDecoder({ maxRecordSize: 64 });
        const got: Buffer[] = [];
        for (const chunk of chop(stream, cuts)) {
          const b = d.push(chunk);
          assert.equal(b.error, undefined);
          got.push(...b.records);
        }
        assert.deepEqual(
          got.map((b) => b.toString('hex')),
          records.map((r) => Buffer.from(r).toString('hex')),
        );
        assert.ok(d.atRecordBoundary);
      },
    ),
    { numRuns: 500 },
  );
});

test('property: a record over the limit is always reported, and the records before it are not lost', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 32 }), { maxLength: 6 }),
      fc.integer({ min: 33, max: 200 }),
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (good, badSize, maxFragment, cuts) => {
        const bad = Buffer.alloc(badSize, 9);
        const stream = Buffer.concat([
          ...good.flatMap((r) => frameRecord([Buffer.from(r)], maxFragment)),
          ...frameRecord([bad], maxFragment),
        ]);
        const d = new RecordDecoder({ maxRecordSize: 32 });
        const got: Buffer[] = [];
        let error: RecordError | undefined;
        for (const chunk of chop(stream, cuts)) {
          const b = d.push(chunk);
          got.push(...b.records);
          error ??= b.error;
        }
        assert.equal(error?.kind, 'record-too-large');
        assert.equal(got.length, good.length);
        assert.ok(d.bufferedBytes <= 32);
      },
    ),
    { numRuns: 300 },
  );
});
