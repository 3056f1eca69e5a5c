import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OncePerKeyWarning } from '../../../src/server/logger.js';
import type { Logger } from '../../../src/server/logger.js';

test('a warning per key is logged once per interval, the repeats at debug level', () => {
  const seen: string[] = [];
  const logger: Logger = {
    debug: (m) => void seen.push(`debug ${m}`),
    info: () => {},
    warn: (m) => void seen.push(`warn ${m}`),
    error: () => {},
  };
  let now = 0;
  const w = new OncePerKeyWarning(logger, 1000, 2, () => now);
  w.warn('a', 'x');
  w.warn('a', 'x');
  w.warn('b', 'y');
  now = 999;
  w.warn('a', 'x');
  now = 1000;
  w.warn('a', 'x');
  assert.deepEqual(seen, ['warn x', 'debug x', 'warn y', 'debug x', 'warn x']);
  // Only maxKeys keys are remembered: a third key pushes out the oldest.
  w.warn('c', 'z'); // forgets b
  w.warn('b', 'y');
  assert.deepEqual(seen.slice(-2), ['warn z', 'warn y']);
});
