import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryBudget, type Reservation } from '../../../../src/fs/read/memory-budget.js';
import { tick } from './controlled-store.js';

test('tryReserve grants while bytes are free and refuses past the limit', () => {
  const b = new MemoryBudget(100);
  const r1 = b.tryReserve(60);
  assert.ok(r1);
  assert.equal(b.tryReserve(41), undefined);
  const r2 = b.tryReserve(40);
  assert.ok(r2);
  assert.equal(b.reserved, 100);
  assert.equal(b.available, 0);
  r1.release();
  r1.release(); // idempotent
  assert.equal(b.reserved, 40);
  assert.equal(r1.released, true);
  const s = b.stats();
  assert.equal(s.peakReserved, 100);
  assert.equal(s.refused, 1);
  assert.equal(s.reservations, 1);
});

test('tryReserve never grants more than the limit, even when the budget is empty', () => {
  const b = new MemoryBudget(10);
  assert.equal(b.tryReserve(11), undefined);
  assert.equal(b.reserved, 0);
});

test('reserve waits in FIFO order; a waiting caller blocks tryReserve', async () => {
  const b = new MemoryBudget(100);
  const held = b.tryReserve(90)!;
  const order: string[] = [];
  const big = b.reserve(50).then((r) => (order.push('big'), r));
  const small = b.reserve(5).then((r) => (order.push('small'), r));
  await tick();
  // 10 bytes are free, enough for `small`, but `big` came first.
  assert.deepEqual(order, []);
  assert.equal(b.tryReserve(1), undefined, 'optional work does not overtake waiters');
  assert.equal(b.stats().waiting, 2);
  assert.equal(b.stats().waitingBytes, 55);
  held.release();
  const [rb, rs] = await Promise.all([big, small]);
  assert.deepEqual(order, ['big', 'small']);
  assert.equal(b.reserved, 55);
  rb.release();
  rs.release();
  assert.equal(b.reserved, 0);
});

test('a request larger than the whole budget is granted once the budget is empty', async () => {
  const b = new MemoryBudget(10);
  const r = b.tryReserve(4)!;
  let granted: Reservation | undefined;
  const p = b.reserve(25).then((x) => (granted = x));
  await tick();
  assert.equal(granted, undefined);
  r.release();
  await p;
  assert.equal(granted!.bytes, 25);
  assert.equal(b.reserved, 25);
});

test('aborting a waiting reserve leaves the queue and lets the next waiter in', async () => {
  const b = new MemoryBudget(10);
  const held = b.tryReserve(8)!;
  const ac = new AbortController();
  const first = b.reserve(9, { signal: ac.signal });
  const second = b.reserve(2);
  ac.abort(new Error('gave up'));
  await assert.rejects(first, /gave up/);
  const r = await second;
  assert.equal(b.reserved, 10);
  r.release();
  held.release();
  assert.equal(b.stats().waiting, 0);
  await assert.rejects(b.reserve(1, { signal: AbortSignal.abort(new Error('already')) }), /already/);
});

test('reserveOvercommit always grants and counts when it goes past the limit', () => {
  const b = new MemoryBudget(10);
  b.reserveOvercommit(6);
  b.reserveOvercommit(6);
  assert.equal(b.reserved, 12);
  assert.equal(b.stats().overcommits, 1);
  assert.equal(b.available, 0);
});

test('reclaimers are asked for the missing bytes before a reserve waits', async () => {
  const b = new MemoryBudget(100);
  const cached = [b.tryReserve(40)!, b.tryReserve(40)!];
  const asked: number[] = [];
  const off = b.addReclaimer((bytes) => {
    asked.push(bytes);
    cached.shift()?.release();
  });
  const r = await b.reserve(50);
  assert.deepEqual(asked, [30]);
  assert.equal(b.reserved, 90);
  r.release();
  off();
  b.reclaim(1000);
  assert.deepEqual(asked, [30], 'unregistered reclaimers are not asked');
});

test('a reclaimer that reserves again does not recurse', () => {
  const b = new MemoryBudget(10);
  b.tryReserve(10);
  let calls = 0;
  b.addReclaimer(() => {
    calls++;
    b.reclaim(5);
  });
  b.reclaim(5);
  assert.equal(calls, 1);
});

test('property: reserved always equals the sum of live reservations, and grants follow arrival order', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('try' as const), bytes: fc.integer({ min: 0, max: 60 }) }),
          fc.record({ op: fc.constant('wait' as const), bytes: fc.integer({ min: 0, max: 120 }) }),
          fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
        ),
        { maxLength: 60 },
      ),
      async (ops) => {
        const b = new MemoryBudget(100);
        const live: Reservation[] = [];
        const grantOrder: number[] = [];
        let waits = 0;
        for (const o of ops) {
          if (o.op === 'try') {
            const r = b.tryReserve(o.bytes);
            if (r) live.push(r);
          } else if (o.op === 'wait') {
            const n = waits++;
            void b.reserve(o.bytes).then((r) => {
              grantOrder.push(n);
              live.push(r);
            });
          } else if (live.length > 0) {
            live.splice(o.pick % live.length, 1)[0]!.release();
          }
          await tick();
          const sum = live.reduce((s, r) => s + r.bytes, 0);
          assert.equal(b.reserved, sum);
          // Past the limit only by one oversized request granted to an otherwise empty budget.
          const oversized = live.filter((x) => x.bytes > 0).length === 1;
          assert.ok(sum <= 100 || oversized, `reserved ${sum} past the limit`);
        }
        assert.deepEqual(grantOrder, [...grantOrder].sort((x, y) => x - y));
      },
    ),
    { numRuns: 200 },
  );
});
