import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MemoryObjectStore } from '../../../src/s3/memory-store.js';
import { FaultInjectingObjectStore } from '../../../src/s3/faulty-store.js';
import { isObjectStoreError } from '../../../src/s3/object-store.js';
import { OBJECT_STORE_APIS } from '../../../src/s3/store-call.js';
import { S3_API_NAMES, S3nfsMetrics } from '../../../src/metrics/s3nfs-metrics.js';

/** Sample lines as name{labels} → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

test('every line of the full s3nfs exposition follows the 0.0.4 grammar, TYPE before samples', () => {
  const m = new S3nfsMetrics({ version: '1.2.3' });
  m.procedure('nfs', 'READ').record(0.002);
  m.procedure('nfs', 'LOOKUP').record(0.0001, 'NFS3ERR_NOENT');
  m.s3Api('get').succeeded(m.s3Api('get').begin());
  m.setMemorySource({ reserved: 5, limit: 10 });
  m.setWriteStagingSource(() => ({ stagedBytes: 1, staged: 2, publishing: 3, failed: 4 }));
  const text = m.render();
  assert.ok(text.endsWith('\n'));
  const typed = new Map<string, string>();
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (\S+)$/;
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        assert.match(meta[3]!, /^(counter|gauge|histogram)$/);
        typed.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const s = sampleLine.exec(line);
    assert.ok(s, `bad sample line: ${line}`);
    assert.ok(!Number.isNaN(Number(s[4]!.replace('+Inf', 'Infinity'))), line);
    const name = s[1]!;
    const family = typed.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(family), `sample before its TYPE: ${line}`);
  }
  const all = samples(text);
  assert.equal(all.get('s3nfs_build_info{version="1.2.3",node_version="' + process.version + '"}'), 1);
  assert.equal(all.get('s3nfs_buffer_memory_bytes'), 5);
  assert.equal(all.get('s3nfs_buffer_memory_limit_bytes'), 10);
  assert.equal(all.get('s3nfs_staged_bytes'), 1);
  assert.equal(all.get('s3nfs_staged_files{state="staged"}'), 2);
  assert.equal(all.get('s3nfs_staged_files{state="publishing"}'), 3);
  assert.equal(all.get('s3nfs_staged_files{state="failed"}'), 4);
  assert.ok(all.get('process_resident_memory_bytes')! > 0);
});

test('procedure metrics: count and latency for every call, errors only for non-OK statuses', () => {
  const m = new S3nfsMetrics({ processMetrics: false });
  const lookup = m.procedure('nfs', 'LOOKUP');
  assert.equal(m.procedure('nfs', 'LOOKUP'), lookup);
  lookup.record(0.0002, 'NFS3_OK');
  lookup.record(0.003, 'NFS3ERR_NOENT');
  lookup.record(0.004, 'NFS3ERR_NOENT');
  lookup.record(0.5, 'NFS3ERR_STALE');
  m.procedure('mount', 'MNT').record(0.01, 'MNT3_OK');
  m.procedure('nfs', 'NULL').record(0.00001);
  const s = samples(m.render());
  assert.equal(s.get('s3nfs_rpc_requests_total{program="nfs",procedure="LOOKUP"}'), 4);
  assert.equal(s.get('s3nfs_rpc_errors_total{program="nfs",procedure="LOOKUP",status="NFS3ERR_NOENT"}'), 2);
  assert.equal(s.get('s3nfs_rpc_errors_total{program="nfs",procedure="LOOKUP",status="NFS3ERR_STALE"}'), 1);
  assert.equal(s.get('s3nfs_rpc_requests_total{program="mount",procedure="MNT"}'), 1);
  assert.equal(s.get('s3nfs_rpc_requests_total{program="nfs",procedure="NULL"}'), 1);
  assert.equal([...s.keys()].filter((k) => k.startsWith('s3nfs_rpc_errors_total')).length, 2);
  assert.equal(s.get('s3nfs_rpc_duration_seconds_bucket{program="nfs",procedure="LOOKUP",le="0.00025"}'), 1);
  assert.equal(s.get('s3nfs_rpc_duration_seconds_bucket{program="nfs",procedure="LOOKUP",le="0.005"}'), 3);
  assert.equal(s.get('s3nfs_rpc_duration_seconds_count{program="nfs",procedure="LOOKUP"}'), 4);
});

test('InstrumentedObjectStore counts, times and measures every call and passes results through', async () => {
  const m = new S3nfsMetrics({ processMetrics: false });
  const mem = new MemoryObjectStore({ minPartSize: 1 });
  const store = m.instrument(mem);
  await store.checkBucket();
  await store.put({ key: 'a', body: Buffer.from('hello world') });
  const got = await store.get({ key: 'a', range: { start: 0, end: 5 } });
  assert.equal(got.body.toString(), 'hello');
  assert.equal((await store.head('a'))?.size, 11);
  assert.equal(await store.head('missing'), undefined); // not an error: HEAD of a missing key resolves
  const page = await store.list({ prefix: '' });
  assert.deepEqual(
    page.objects.map((o) => o.key),
    ['a'],
  );
  const id = await store.createMultipartUpload('b');
  const p1 = await store.uploadPart('b', id, 1, Buffer.alloc(7));
  const p2 = await store.uploadPartCopy('b', id, 2, 'a', { start: 2, end: 11 });
  await store.completeMultipartUpload('b', id, [p1, p2]);
  assert.equal((await mem.head('b'))?.size, 16);

  const s = samples(m.render());
  const count = (api: string) => s.get(`s3nfs_s3_requests_total{api="${api}"}`);
  assert.equal(count('HeadBucket'), 1);
  assert.equal(count('PutObject'), 1);
  assert.equal(count('GetObject'), 1);
  assert.equal(count('HeadObject'), 2);
  assert.equal(count('ListObjectsV2'), 1);
  assert.equal(count('UploadPart'), 1);
  assert.equal(count('UploadPartCopy'), 1);
  assert.equal(count('CompleteMultipartUpload'), 1);
  assert.equal(count('DeleteObject'), 0);
  assert.equal(s.get('s3nfs_s3_request_duration_seconds_count{api="HeadObject"}'), 2);
  assert.equal(s.get('s3nfs_s3_downloaded_bytes_total'), 5);
  assert.equal(s.get('s3nfs_s3_uploaded_bytes_total'), 11 + 7);
  assert.equal(s.get('s3nfs_s3_copied_bytes_total'), 9);
  for (const api of OBJECT_STORE_APIS) {
    assert.equal(s.get(`s3nfs_s3_requests_in_flight{api="${S3_API_NAMES[api]}"}`), 0);
  }
  assert.equal([...s.keys()].filter((k) => k.startsWith('s3nfs_s3_errors_total')).length, 0);
});

test('failed S3 calls are counted by error kind, rethrown unchanged, and leave nothing in flight', async () => {
  const m = new S3nfsMetrics({ processMetrics: false });
  const faulty = new FaultInjectingObjectStore(new MemoryObjectStore());
  const store = m.instrument(faulty);
  faulty.failNext('put', 'Throttled', 2);
  await assert.rejects(store.put({ key: 'x', body: Buffer.from('1') }), (e) => isObjectStoreError(e, 'Throttled'));
  await assert.rejects(store.put({ key: 'x', body: Buffer.from('1') }), (e) => isObjectStoreError(e, 'Throttled'));
  await assert.rejects(store.get({ key: 'nope' }), (e) => isObjectStoreError(e, 'NotFound'));
  faulty.inject({ api: 'delete', error: () => new TypeError('bug') });
  await assert.rejects(store.delete('x'), TypeError);
  const aborted = new AbortController();
  aborted.abort();
  faulty.setLatency(5);
  await assert.rejects(store.get({ key: 'x', signal: aborted.signal }), { name: 'AbortError' });

  const s = samples(m.render());
  assert.equal(s.get('s3nfs_s3_errors_total{api="PutObject",kind="Throttled"}'), 2);
  assert.equal(s.get('s3nfs_s3_errors_total{api="GetObject",kind="NotFound"}'), 1);
  assert.equal(s.get('s3nfs_s3_errors_total{api="GetObject",kind="Aborted"}'), 1);
  assert.equal(s.get('s3nfs_s3_errors_total{api="DeleteObject",kind="Other"}'), 1);
  assert.equal(s.get('s3nfs_s3_requests_total{api="PutObject"}'), 2);
  assert.equal(s.get('s3nfs_s3_requests_total{api="GetObject"}'), 2);
  assert.equal(s.get('s3nfs_s3_uploaded_bytes_total'), 0); // failed uploads sent nothing that counts
  assert.equal(s.get('s3nfs_s3_requests_in_flight{api="GetObject"}'), 0);
  assert.equal(s.get('s3nfs_s3_requests_in_flight{api="PutObject"}'), 0);
});

test('requests in flight are visible while a call runs', async () => {
  const m = new S3nfsMetrics({ processMetrics: false });
  const faulty = new FaultInjectingObjectStore(new MemoryObjectStore());
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  faulty.beforeCall(() => gate);
  const pending = m.instrument(faulty).head('k');
  await new Promise((r) => setImmediate(r));
  assert.equal(samples(m.render()).get('s3nfs_s3_requests_in_flight{api="HeadObject"}'), 1);
  release();
  await pending;
  assert.equal(samples(m.render()).get('s3nfs_s3_requests_in_flight{api="HeadObject"}'), 0);
});

test('read-path, write-path and connection handles land in their metrics', () => {
  const m = new S3nfsMetrics({ processMetrics: false });
  m.prefetchHit('buffer');
  m.prefetchHit('buffer');
  m.prefetchHit('in_flight');
  m.prefetchMiss();
  m.nfsReadBytes.inc(4096);
  m.nfsWriteBytes.inc(1 << 20);
  m.clientsConnected.inc();
  m.clientsConnected.inc();
  m.clientsConnected.dec();
  m.publishedFiles.inc();
  m.publishFailures.inc();
  m.rpcRejected.labels({ reason: 'insecure_port' }).inc();
  m.rpcDuplicateReplies.inc();
  const s = samples(m.render());
  assert.equal(s.get('s3nfs_prefetch_hits_total{source="buffer"}'), 2);
  assert.equal(s.get('s3nfs_prefetch_hits_total{source="in_flight"}'), 1);
  assert.equal(s.get('s3nfs_prefetch_misses_total'), 1);
  assert.equal(s.get('s3nfs_nfs_read_bytes_total'), 4096);
  assert.equal(s.get('s3nfs_nfs_write_bytes_total'), 1048576);
  assert.equal(s.get('s3nfs_clients_connected'), 1);
  assert.equal(s.get('s3nfs_published_files_total'), 1);
  assert.equal(s.get('s3nfs_publish_failures_total'), 1);
  assert.equal(s.get('s3nfs_rpc_rejected_total{reason="insecure_port"}'), 1);
  assert.equal(s.get('s3nfs_rpc_duplicate_replies_total'), 1);
});

test('docs/monitoring.md documents every metric s3nfs exposes', () => {
  const doc = readFileSync(new URL('../../../../docs/monitoring.md', import.meta.url), 'utf8');
  const names = [...new S3nfsMetrics().render().matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]!);
  assert.ok(names.length > 20);
  const missing = names.filter((n) => !doc.includes('`' + n + '`'));
  assert.deepEqual(missing, []);
});
