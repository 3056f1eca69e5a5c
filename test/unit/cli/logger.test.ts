// The one logger (src/log/logger.ts) takes any field value: errors become one line (with the
// stack on error lines), bigints and dates text, objects JSON; undefined fields are left out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, OncePerKeyWarning } from '../../../src/log/logger.js';
import type { Logger as ServerLogger } from '../../../src/server/logger.js';

test('logfmt and JSON lines render every kind of field value', () => {
  const lines: string[] = [];
  const json = createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l), now: () => new Date(0) });
  json.error('failed', { err: new RangeError('bad\nvalue', { cause: new Error('root') }), id: 7n, when: new Date(1000), obj: { a: [1, 2n] }, none: undefined, nil: null });
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.match(String(first['err']), /^RangeError: bad value \(cause: root\) \[.+logger\.test\.js/);
  assert.equal(first['id'], '7');
  assert.equal(first['when'], '1970-01-01T00:00:01.000Z');
  assert.equal(first['obj'], '{"a":[1,"2"]}');
  assert.equal('none' in first || 'nil' in first, false);

  const text: string[] = [];
  const logfmt = createLogger({ write: (l) => text.push(l), now: () => new Date(0) }).child({ component: 'x' });
  logfmt.warn('careful', { err: new Error('plain'), n: 1 });
  assert.equal(text[0], 'time=1970-01-01T00:00:00.000Z level=warn msg=careful component=x err="Error: plain" n=1');
});

test('the server core takes the same logger (its Logger is the four reporting methods)', () => {
  const lines: string[] = [];
  const core: ServerLogger = createLogger({ write: (l) => lines.push(l) });
  const warnings = new OncePerKeyWarning(core, 1000, 10, () => 0);
  assert.equal(warnings.warn('k', 'first'), true);
  assert.equal(warnings.warn('k', 'again'), false);
  assert.equal(lines.length, 1);
});
