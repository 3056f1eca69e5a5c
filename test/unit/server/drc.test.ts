import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuplicateRequestCache, drcKey } from '../../../src/server/drc.js';

const parts = { clientAddress: '10.0.0.1', xid: 1, program: 100003, version: 3, procedure: 8 };

test('the key covers address, xid, procedure and the arguments', () => {
  const args = Buffer.from('abc');
  const k = drcKey({ ...parts, args });
  assert.equal(drcKey({ ...parts, args: Buffer.from('abc') }), k);
  assert.notEqual(drcKey({ ...parts, args: Buffer.from('abd') }), k);
  assert.notEqual(drcKey({ ...parts, args: Buffer.from('abc\0') }), k);
  assert.notEqual(drcKey({ ...parts, xid: 2, args }), k);
  assert.notEqual(drcKey({ ...parts, procedure: 9, args }), k);
  assert.notEqual(drcKey({ ...parts, clientAddress: '10.0.0.2', args }), k);
});

test('a lookup while running joins the running call; afterwards it gets the cached reply', async () => {
  const drc = new DuplicateRequestCache();
  let runs = 0;
  let finish!: (b: Buffer[]) => void;
  const execute = (): Promise<Buffer[]> => {
    runs++;
    return new Promise((resolve) => (finish = resolve));
  };
  const a = drc.lookup('k', execute);
  const b = drc.lookup('k', execute);
  assert.equal(a.source, 'new');
  assert.equal(b.source, 'in-progress');
  assert.equal(drc.runningCount, 1);
  finish([Buffer.from('he'), Buffer.from('llo')]);
  assert.deepEqual(await a.reply, Buffer.from('hello'));
  assert.deepEqual(await b.reply, Buffer.from('hello'));
  const c = drc.lookup('k', execute);
  assert.equal(c.source, 'completed');
  assert.deepEqual(await c.reply, Buffer.from('hello'));
  assert.equal(runs, 1);
  assert.equal(drc.runningCount, 0);
});

test('a failed execution is not remembered', async () => {
  const drc = new DuplicateRequestCache();
  const bad = drc.lookup('k', () => Promise.reject(new Error('boom')));
  await assert.rejects(bad.reply, /boom/);
  const again = drc.lookup('k', () => Promise.resolve([Buffer.from('x')]));
  assert.equal(again.source, 'new');
});

test('completed entries are bounded by count and bytes', async () => {
  const drc = new DuplicateRequestCache({ maxEntries: 10, maxBytes: 100_000 });
  for (let i = 0; i < 50; i++) await drc.lookup(`k${i}`, () => Promise.resolve([Buffer.alloc(100)])).reply;
  assert.equal(drc.size, 10);
  const small = new DuplicateRequestCache({ maxEntries: 1000, maxBytes: 2000 });
  for (let i = 0; i < 50; i++) await small.lookup(`k${i}`, () => Promise.resolve([Buffer.alloc(372)])).reply;
  assert.equal(small.size, 4); // 4 × (372 + 128 overhead) = 2000
  // The most recent ones are kept.
  assert.equal(small.lookup('k49', () => Promise.resolve([])).source, 'completed');
});
