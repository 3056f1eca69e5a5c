import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../../src/log/logger.js';
import { PublishScheduler, type PublishAttemptResult } from '../../../../src/fs/write/publish-scheduler.js';
import { ManualClock } from './helpers.js';

function setup(results: Array<PublishAttemptResult | Error>, options: { concurrency?: number } = {}) {
  const clock = new ManualClock(0);
  const calls: Array<{ key: string; at: number }> = [];
  let running = 0;
  let maxRunning = 0;
  const gates: Array<() => void> = [];
  let gated = false;
  const scheduler = new PublishScheduler({
    delayMs: 5000,
    clock,
    concurrency: options.concurrency ?? 4,
    retryBaseMs: 100,
    retryMaxMs: 1000,
    random: () => 1, // no jitter: the full back-off
    log: silentLogger,
    publish: async (key) => {
      calls.push({ key, at: clock.now() });
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        if (gated) await new Promise<void>((r) => gates.push(r));
        const next = results.shift() ?? 'clean';
        if (next instanceof Error) throw next;
        return next;
      } finally {
        running--;
      }
    },
  });
  return {
    clock,
    scheduler,
    calls,
    maxRunning: () => maxRunning,
    gate(on: boolean) {
      gated = on;
      if (!on) for (const g of gates.splice(0)) g();
    },
  };
}

test('a file is published once it has been quiet for the delay; activity restarts the wait', async () => {
  const { clock, scheduler, calls } = setup([]);
  scheduler.touch('k');
  assert.deepEqual(clock.pending(), [5000]);
  await clock.advance(3000);
  scheduler.touch('k');
  await clock.advance(2000);
  assert.equal(calls.length, 0, 'not quiet for 5 s yet');
  await clock.advance(3000);
  assert.deepEqual(calls, [{ key: 'k', at: 8000 }]);
  assert.equal(scheduler.state('k')?.phase, 'idle');
  assert.deepEqual(clock.pending(), [], 'nothing more scheduled');
});

test('failures back off exponentially, up to the maximum, and stay scheduled until one succeeds', async () => {
  const boom = new Error('S3 is down');
  const { clock, scheduler, calls } = setup([boom, boom, boom, boom, boom, 'clean']);
  scheduler.touch('k');
  await clock.advance(5000);
  assert.equal(scheduler.state('k')?.phase, 'failed');
  assert.equal(scheduler.state('k')?.attempts, 1);
  assert.equal(scheduler.state('k')?.lastError, 'S3 is down');
  await clock.advance(10_000);
  // 5000, then +100, +200, +400, +800, +1000 (capped).
  assert.deepEqual(
    calls.map((c) => c.at),
    [5000, 5100, 5300, 5700, 6500, 7500],
  );
  assert.equal(scheduler.state('k')?.phase, 'idle');
  assert.equal(scheduler.state('k')?.attempts, 0);
  assert.equal(scheduler.state('k')?.lastError, undefined);
});

test('a retry still waits for quiet when the file is being written', async () => {
  const { clock, scheduler, calls } = setup([new Error('x')]);
  scheduler.touch('k');
  await clock.advance(5000);
  await clock.advance(50);
  scheduler.touch('k'); // activity after the failure
  await clock.advance(4000);
  assert.equal(calls.length, 1);
  await clock.advance(1000);
  assert.deepEqual(calls.map((c) => c.at), [5000, 10050]);
});

test('a publish that found the file changed is tried again once the file is quiet again', async () => {
  const s = setup(['dirty', 'clean']);
  s.gate(true);
  s.scheduler.touch('k');
  await s.clock.advance(5000);
  assert.equal(s.scheduler.state('k')?.phase, 'publishing');
  await s.clock.advance(1000);
  s.scheduler.touch('k'); // a WRITE during the publish
  s.gate(false);
  await s.clock.advance(0);
  assert.equal(s.scheduler.state('k')?.phase, 'waiting');
  await s.clock.advance(10_000);
  assert.deepEqual(s.calls.map((c) => c.at), [5000, 11000]);
  assert.equal(s.scheduler.state('k')?.phase, 'idle');
});

test('flush publishes at once and waits for an attempt already running', async () => {
  const s = setup(['clean', 'clean']);
  s.scheduler.touch('k');
  assert.equal(await s.scheduler.flush('k'), 'clean');
  assert.deepEqual(s.calls.map((c) => c.at), [0]);
  assert.deepEqual(s.clock.pending(), [], 'the timed publish was cancelled');

  s.gate(true);
  s.scheduler.touch('k');
  const first = s.scheduler.flush('k');
  const second = s.scheduler.flush('k');
  await s.clock.advance(0);
  assert.equal(s.calls.length, 2, 'the second flush waits for the first');
  s.gate(false);
  await first;
  s.gate(true);
  await s.clock.advance(0);
  s.gate(false);
  assert.equal(await second, 'clean');
  assert.equal(s.calls.length, 3);
  assert.equal(s.maxRunning(), 1);
});

test('publishes at most `concurrency` files at once; stop() cancels timers; gone files are forgotten', async () => {
  const s = setup(['gone'], { concurrency: 2 });
  s.gate(true);
  for (const k of ['a', 'b', 'c', 'd']) s.scheduler.touch(k);
  await s.clock.advance(5000);
  assert.equal(s.calls.length, 2);
  s.gate(false);
  await s.clock.advance(0);
  await s.clock.advance(0);
  assert.equal(s.calls.length, 4);
  assert.equal(s.maxRunning(), 2);
  assert.equal(s.scheduler.state('a'), undefined, "'gone' forgets the key");

  s.scheduler.touch('e');
  s.scheduler.stop();
  await s.clock.advance(60_000);
  assert.equal(s.calls.length, 4);
  assert.equal(await s.scheduler.flush('e'), 'clean', 'flush still works after stop');
});
