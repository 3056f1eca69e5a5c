// The calls-per-client record behind `s3nfs status`: counts, last call times, most recent first,
// and the least recently seen address forgotten first once over the limit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientTracker } from '../../../src/cli/client-tracker.js';

const call = (address: string) => ({ client: { address, port: 700 } });

test('client tracker: counts calls per address and lists the most recently seen first', () => {
  let clock = 1_000;
  const tracker = new ClientTracker(256, () => clock);
  for (const a of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.1', '10.0.0.1', '10.0.0.3', '10.0.0.2']) {
    clock += 10;
    tracker.record(call(a));
  }
  assert.deepEqual(
    tracker.list().map((c) => [c.address, c.calls, c.lastCallAt.getTime()]),
    [
      ['10.0.0.2', 2, 1_070],
      ['10.0.0.3', 1, 1_060],
      ['10.0.0.1', 4, 1_050],
    ],
  );
});

test('client tracker: over its limit it forgets the least recently seen address', () => {
  const tracker = new ClientTracker(2);
  tracker.record(call('a'));
  tracker.record(call('b'));
  tracker.record(call('a')); // a is the newest again: b is now the oldest
  tracker.record(call('a'));
  tracker.record(call('c'));
  assert.deepEqual(
    tracker.list().map((c) => [c.address, c.calls]),
    [
      ['c', 1],
      ['a', 3],
    ],
  );
});
