import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultInjectingObjectStore } from '../../../src/s3/faulty-store.js';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { ObjectStoreError } from '../../../src/s3/object-store.js';

function setup(seed?: number) {
  const memory = new MemoryObjectStore();
  const store = new FaultInjectingObjectStore(memory, seed === undefined ? {} : { seed });
  return { memory, store };
}

test('failNext fails exactly the next N calls of one API with the given kind', async () => {
  const { memory, store } = setup();
  memory.putSync('k', 'v');
  const fault = store.failNext('head', 'Unavailable', 2);
  await assert.rejects(store.head('k'), (e: unknown) => e instanceof ObjectStoreError && e.kind === 'Unavailable');
  await assert.rejects(store.head('k'), { kind: 'Unavailable' });
  assert.equal((await store.head('k'))!.size, 1);
  assert.equal((await store.get({ key: 'k' })).body.toString(), 'v');
  assert.equal(fault.fired, 2);
  assert.equal(store.injected, 2);
  // Failed-before calls never reached the inner store.
  assert.deepEqual(memory.apiSequence(), ['head', 'get']);
});

test('rules match by key (string or RegExp), skip the first matches, and can be removed', async () => {
  const { memory, store } = setup();
  memory.putSync('a/1', 'x');
  memory.putSync('b/1', 'x');
  const fault = store.inject({ api: ['get', 'head'], key: /^a\//, error: 'Throttled', skip: 1 });
  await store.head('a/1'); // skipped
  await assert.rejects(store.get({ key: 'a/1' }), { kind: 'Throttled' });
  await store.head('b/1'); // other key
  await assert.rejects(store.head('a/1'), { kind: 'Throttled' });
  fault.remove();
  await store.head('a/1');
  assert.equal(fault.fired, 2);
});

test("'after' faults lose the reply of a request that took effect", async () => {
  const { memory, store } = setup();
  store.inject({ api: 'put', when: 'after', error: 'Unavailable', times: 1 });
  await assert.rejects(store.put({ key: 'p', body: Buffer.from('data') }), { kind: 'Unavailable' });
  assert.equal(memory.getSync('p')!.toString(), 'data');
  // A retried create-only PUT now sees its own first attempt.
  await assert.rejects(store.put({ key: 'p', body: Buffer.from('data'), ifNoneMatch: true }), {
    kind: 'PreconditionFailed',
  });
});

test('an error factory can throw anything, e.g. a connection reset', async () => {
  const { store } = setup();
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  store.inject({ api: 'list', error: () => reset, times: 1 });
  await assert.rejects(store.list({ prefix: '' }), (e: unknown) => e === reset);
  assert.deepEqual(await store.list({ prefix: '' }), { objects: [], prefixes: [] });
});

test('probability faults are reproducible for a seed and roughly follow the probability', async () => {
  async function pattern(seed: number): Promise<boolean[]> {
    const { memory, store } = setup(seed);
    memory.putSync('k', 'v');
    store.inject({ api: 'head', error: 'Unavailable', probability: 0.3 });
    const out: boolean[] = [];
    for (let i = 0; i < 400; i++) {
      out.push(await store.head('k').then(() => false, () => true));
    }
    return out;
  }
  const a = await pattern(42);
  assert.deepEqual(await pattern(42), a);
  assert.notDeepEqual(await pattern(43), a);
  const failures = a.filter(Boolean).length;
  assert.ok(failures > 60 && failures < 180, `expected about 120 failures, got ${failures}`);
});

test('a hook can replace the object between two GETs so If-Match fails', async () => {
  const { memory, store } = setup();
  const first = memory.putSync('f', 'version one');
  const r1 = await store.get({ key: 'f', range: { start: 0, end: 7 } });
  assert.equal(r1.etag, first.etag);
  store.onceBefore('get', () => {
    memory.putSync('f', 'version two');
  });
  await assert.rejects(store.get({ key: 'f', range: { start: 8, end: 11 }, ifMatch: r1.etag }), {
    kind: 'PreconditionFailed',
  });
  // The hook ran once only.
  const r3 = await store.get({ key: 'f' });
  assert.equal(r3.body.toString(), 'version two');
});

test('onceBefore with a key waits for a call on that key; hooks can delete objects', async () => {
  const { memory, store } = setup();
  memory.putSync('x', '1');
  memory.putSync('y', '2');
  store.onceBefore('head', () => void memory.deleteSync('y'), 'y');
  assert.ok(await store.head('x'));
  assert.ok(memory.getSync('y'));
  assert.equal(await store.head('y'), undefined);
});

test('afterCall hooks see successful calls only; unsubscribe stops them', async () => {
  const { store } = setup();
  const seen: string[] = [];
  const off = store.afterCall((call) => void seen.push(call.api));
  store.failNext('head', 'Other');
  await assert.rejects(store.head('a'));
  await store.head('a');
  await store.put({ key: 'a', body: Buffer.alloc(1) });
  off();
  await store.head('a');
  assert.deepEqual(seen, ['head', 'put']);
});

test('latency delays calls and an aborted GET stops waiting', async () => {
  const { memory, store } = setup();
  memory.putSync('k', 'v');
  store.setLatency((call) => (call.api === 'get' ? 60_000 : 0));
  assert.ok(await store.head('k'));
  const ac = new AbortController();
  const pending = store.get({ key: 'k', signal: ac.signal });
  ac.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  assert.equal(memory.callCount('get'), 0);
});
