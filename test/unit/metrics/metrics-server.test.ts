import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricRegistry } from '../../../src/metrics/registry.js';
import { startMetricsServer } from '../../../src/metrics/metrics-server.js';
import { createLogger } from '../../../src/log/logger.js';

function url(port: number, path: string): string {
  return `http://127.0.0.1:${port}${path}`;
}

test('GET /metrics on 127.0.0.1 serves the registry; other paths 404, other methods 405', async (t) => {
  const registry = new MetricRegistry();
  const reads = registry.counter({ name: 'scrape_test_reads_total', help: 'Reads.', labelNames: ['proc'] });
  reads.labels({ proc: 'READ' }).inc(7);
  const server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  assert.equal(server.address.host, '127.0.0.1');
  assert.ok(server.address.port > 0);

  const res = await fetch(url(server.address.port, '/metrics'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const body = await res.text();
  assert.equal(
    body,
    '# HELP scrape_test_reads_total Reads.\n# TYPE scrape_test_reads_total counter\nscrape_test_reads_total{proc="READ"} 7\n',
  );

  // A later scrape sees later counts.
  reads.labels({ proc: 'READ' }).inc();
  assert.match(await (await fetch(url(server.address.port, '/metrics?x=1'))).text(), /\{proc="READ"\} 8\n/);

  const head = await fetch(url(server.address.port, '/metrics'), { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');

  for (const path of ['/', '/metric', '/metrics/', '/favicon.ico']) {
    const r = await fetch(url(server.address.port, path));
    assert.equal(r.status, 404, path);
    await r.text();
  }
  const post = await fetch(url(server.address.port, '/metrics'), { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  await post.text();
});

test('a failing collector answers 500 and logs, and the server keeps serving', async (t) => {
  const registry = new MetricRegistry();
  let broken = true;
  registry.gauge({
    name: 'flaky',
    help: 'f',
    collect: () => {
      if (broken) throw new Error('budget unavailable');
      return 1;
    },
  });
  const lines: string[] = [];
  const logger = createLogger({ level: 'error', write: (l) => lines.push(l) });
  const server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0, logger });
  t.after(() => server.close());
  const bad = await fetch(url(server.address.port, '/metrics'));
  assert.equal(bad.status, 500);
  assert.match(await bad.text(), /budget unavailable/);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /metrics collection failed.*budget unavailable/);
  broken = false;
  const good = await fetch(url(server.address.port, '/metrics'));
  assert.equal(good.status, 200);
  assert.match(await good.text(), /^flaky 1$/m);
});

test('close() stops listening even with a kept-alive connection open', async () => {
  const registry = new MetricRegistry();
  const server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0 });
  const { port } = server.address;
  const res = await fetch(url(port, '/metrics'));
  await res.text();
  await server.close();
  await assert.rejects(fetch(url(port, '/metrics')));
});

test('a port already in use rejects the start', async (t) => {
  const registry = new MetricRegistry();
  const first = await startMetricsServer({ registry, host: '127.0.0.1', port: 0 });
  t.after(() => first.close());
  await assert.rejects(startMetricsServer({ registry, host: '127.0.0.1', port: first.address.port }), /EADDRINUSE/);
});
