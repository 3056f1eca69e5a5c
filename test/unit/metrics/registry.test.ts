import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeHelp, escapeLabelValue, formatValue } from '../../../src/metrics/exposition.js';
import { MetricRegistry } from '../../../src/metrics/registry.js';

test('a small registry renders byte-exactly in the 0.0.4 text format', () => {
  const r = new MetricRegistry();
  const ops = r.counter({ name: 'demo_ops_total', help: 'Operations.', labelNames: ['proc', 'path'] });
  const depth = r.gauge({ name: 'demo_queue_depth', help: 'Queue depth;\nsecond line with a \\ backslash.' });
  const lat = r.histogram({ name: 'demo_latency_seconds', help: 'Latency "quoted".', labelNames: ['proc'], buckets: [0.1, 0.5, 2] });
  const idle = r.counter({ name: 'demo_idle_total', help: 'Never touched.' });
  r.counter({ name: 'demo_unused_total', help: 'No children yet.', labelNames: ['x'] });

  ops.labels({ proc: 'READ', path: 'a"b\\c\nd' }).inc(3);
  ops.labels({ path: '/', proc: 'WRITE' }).inc();
  depth.set(-2.5);
  const read = lat.labels({ proc: 'READ' });
  read.observe(0.1);
  read.observe(0.3);
  read.observe(7);
  assert.equal(idle.value, 0);

  const expected =
    '# HELP demo_ops_total Operations.\n' +
    '# TYPE demo_ops_total counter\n' +
    'demo_ops_total{proc="READ",path="a\\"b\\\\c\\nd"} 3\n' +
    'demo_ops_total{proc="WRITE",path="/"} 1\n' +
    '# HELP demo_queue_depth Queue depth;\\nsecond line with a \\\\ backslash.\n' +
    '# TYPE demo_queue_depth gauge\n' +
    'demo_queue_depth -2.5\n' +
    '# HELP demo_latency_seconds Latency "quoted".\n' +
    '# TYPE demo_latency_seconds histogram\n' +
    'demo_latency_seconds_bucket{proc="READ",le="0.1"} 1\n' +
    'demo_latency_seconds_bucket{proc="READ",le="0.5"} 2\n' +
    'demo_latency_seconds_bucket{proc="READ",le="2"} 2\n' +
    'demo_latency_seconds_bucket{proc="READ",le="+Inf"} 3\n' +
    'demo_latency_seconds_sum{proc="READ"} 7.4\n' +
    'demo_latency_seconds_count{proc="READ"} 3\n' +
    '# HELP demo_idle_total Never touched.\n' +
    '# TYPE demo_idle_total counter\n' +
    'demo_idle_total 0\n' +
    '# HELP demo_unused_total No children yet.\n' +
    '# TYPE demo_unused_total counter\n';
  assert.equal(r.render(), expected);
});

test('an unlabelled histogram writes le as its only label', () => {
  const r = new MetricRegistry();
  const h = r.histogram({ name: 'h', help: 'h', buckets: [1, Infinity] });
  h.observe(1);
  assert.equal(
    r.render(),
    '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
  );
});

test('escaping: label values escape \\ " and line feed; HELP escapes only \\ and line feed', () => {
  assert.equal(escapeLabelValue('plain'), 'plain');
  assert.equal(escapeLabelValue('a\\b"c\nd\te'), 'a\\\\b\\"c\\nd\te');
  assert.equal(escapeHelp('a\\b"c\nd'), 'a\\\\b"c\\nd');
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(0.25), '0.25');
  assert.equal(formatValue(1e21), '1e+21');
});

test('histogram buckets are inclusive upper bounds and cumulative', () => {
  const r = new MetricRegistry();
  const h = r.histogram({ name: 'lat', help: 'x', buckets: [0.001, 0.01, 0.1] });
  for (const v of [0, 0.001, 0.0010001, 0.01, 0.05, 0.1, 0.2, 1000]) h.observe(v);
  const child = h.labels({});
  assert.deepEqual(child.cumulativeCounts(), [2, 4, 6, 8]);
  assert.equal(h.count, 8);
  assert.equal(h.sum, 0 + 0.001 + 0.0010001 + 0.01 + 0.05 + 0.1 + 0.2 + 1000);
});

test('property: each bucket counts exactly the observations at or below its bound', () => {
  fc.assert(
    fc.property(
      // SameValueZero: 0 and -0 are one bound (SameValue would let both in, and they are not increasing).
      fc.uniqueArray(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 12, comparator: 'SameValueZero' }),
      fc.array(fc.double({ min: -2e6, max: 2e6, noNaN: true }), { maxLength: 200 }),
      (rawBounds, values) => {
        const bounds = [...rawBounds].sort((a, b) => a - b);
        const r = new MetricRegistry();
        const h = r.histogram({ name: 'p', help: 'p', buckets: bounds });
        for (const v of values) h.observe(v);
        const expected = [...bounds.map((b) => values.filter((v) => v <= b).length), values.length];
        assert.deepEqual(h.labels({}).cumulativeCounts(), expected);
        assert.equal(h.count, values.length);
        // The rendered bucket lines carry the same numbers.
        const rendered = r
          .render()
          .split('\n')
          .filter((l) => l.startsWith('p_bucket'))
          .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
        assert.deepEqual(rendered, expected);
      },
    ),
  );
});

test('labels() returns the same handle for the same values, in any key order', () => {
  const r = new MetricRegistry();
  const c = r.counter({ name: 'c_total', help: 'c', labelNames: ['a', 'b'] });
  const h1 = c.labels({ a: '1', b: '2' });
  const h2 = c.labels({ b: '2', a: '1' });
  assert.equal(h1, h2);
  h1.inc();
  h2.inc(2);
  assert.equal(h1.value, 3);
  // Values that would collide if joined naively stay distinct.
  assert.notEqual(c.labels({ a: 'x,y', b: 'z' }), c.labels({ a: 'x', b: 'y,z' }));
});

test('wrong or missing label names are refused with the expected set named', () => {
  const r = new MetricRegistry();
  const c = r.counter({ name: 'c_total', help: 'c', labelNames: ['proc'] });
  assert.throws(() => c.labels({ proc: 'READ', extra: 'x' } as { proc: string }), /exactly \{proc\}, got \{proc, extra\}/);
  assert.throws(() => c.labels({} as { proc: string }), /exactly \{proc\}/);
  assert.throws(() => c.labels({ proc: 1 } as unknown as { proc: string }), /exactly \{proc\}/);
  // A labelled metric has no anonymous sample to count on.
  // @ts-expect-error inc() is only for counters without labels
  assert.throws(() => c.inc(), /has labels/);
});

test('declaration errors: names, reserved labels, buckets, duplicates', () => {
  const r = new MetricRegistry();
  assert.throws(() => r.counter({ name: '1bad', help: '' }), /invalid metric name/);
  assert.throws(() => r.counter({ name: 'ok', help: '', labelNames: ['__x'] }), /invalid label name/);
  assert.throws(() => r.counter({ name: 'ok', help: '', labelNames: ['a-b'] }), /invalid label name/);
  assert.throws(() => r.counter({ name: 'ok', help: '', labelNames: ['a', 'a'] }), /repeated label/);
  assert.throws(() => r.histogram({ name: 'h', help: '', labelNames: ['le'], buckets: [1] }), /"le" is reserved/);
  assert.throws(() => r.histogram({ name: 'h', help: '', buckets: [] }), /at least one bucket/);
  assert.throws(() => r.histogram({ name: 'h', help: '', buckets: [1, 1] }), /strictly increasing/);
  assert.throws(() => r.histogram({ name: 'h', help: '', buckets: [2, 1] }), /strictly increasing/);
  assert.throws(() => r.histogram({ name: 'h', help: '', buckets: [NaN] }), /finite/);
  r.counter({ name: 'x_total', help: '' });
  assert.throws(() => r.gauge({ name: 'x_total', help: '' }), /already registered/);
  r.histogram({ name: 'y', help: '', buckets: [1] });
  assert.throws(() => r.counter({ name: 'y_count', help: '' }), /"y_count" is already registered/);
});

test('a counter refuses to go down', () => {
  const r = new MetricRegistry();
  const c = r.counter({ name: 'c_total', help: 'c' });
  assert.throws(() => c.inc(-1), RangeError);
  assert.throws(() => c.inc(NaN), RangeError);
  c.inc(0.5);
  assert.equal(c.value, 0.5);
});

test('collectors and beforeCollect hooks run at every scrape', () => {
  const r = new MetricRegistry();
  let mem = 10;
  let cpu = 1;
  r.gauge({ name: 'mem_bytes', help: 'm', collect: () => mem });
  r.counter({ name: 'cpu_seconds_total', help: 'c' }).setCollector(() => cpu);
  const staged = r.gauge({ name: 'staged', help: 's', labelNames: ['state'] });
  let hookRuns = 0;
  const off = r.beforeCollect(() => {
    hookRuns++;
    staged.labels({ state: 'failed' }).set(hookRuns);
  });
  const samples = (text: string) => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.deepEqual(samples(r.render()), ['mem_bytes 10', 'cpu_seconds_total 1', 'staged{state="failed"} 1']);
  mem = 20;
  cpu = 2.5;
  assert.deepEqual(samples(r.render()), ['mem_bytes 20', 'cpu_seconds_total 2.5', 'staged{state="failed"} 2']);
  off();
  r.render();
  assert.equal(hookRuns, 2);
  assert.throws(() => staged.setCollector(() => 1), /only a gauge without labels/);
});

test('a collector that throws makes render() throw', () => {
  const r = new MetricRegistry();
  r.gauge({
    name: 'broken',
    help: 'b',
    collect: () => {
      throw new Error('source gone');
    },
  });
  assert.throws(() => r.render(), /source gone/);
});
