// --metrics-listen on a running `s3nfs serve`: after a small workload through libnfs (list, read,
// a missing file, a write) and one call from an unprivileged port, the scrape shows non-zero
// counters for exactly those operations, with the S3 requests behind them, the bytes moved, the
// staged file and the memory limit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { bucket, endpoint, haveLibnfs, isRoot, libnfs, mountCall, NO_SERVER, nfsUrl, serve, stop, type Served } from './cli-helpers.js';

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

test('metrics endpoint: counters for the operations run, S3 requests, bytes, staged files, memory', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  if (!haveLibnfs || !isRoot) return t.skip('needs root and libnfs tools to call from a privileged port');
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `cli-metrics-${randomUUID()}`;
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-metrics-'));
  const data = randomBytes(1024 * 1024 + 17);
  const upload = Buffer.from('written through NFS\n');
  await store.put({ key: `${prefix}/data.bin`, body: data });
  await writeFile(path.join(stateDir, 'up.txt'), upload);
  let served: Served | undefined;
  t.after(async () => {
    served?.child.kill('SIGKILL');
    await store.delete(`${prefix}/data.bin`);
    store.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });
  served = await serve([
    `${bucket}/${prefix}`, '--endpoint-url', endpoint, '--port', '0', '--portmap', 'off', '--state-dir', stateDir,
    '--publish-delay', '3600', '--metrics-listen', '127.0.0.1:0',
  ]);
  const url = /msg="serving metrics" url=(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(served.stderr())?.[1];
  assert.ok(url, served.stderr());
  const exportPath = `/${bucket}/${prefix}`;

  assert.equal((await libnfs('nfs-ls', [nfsUrl(served.port, exportPath)])).code, 0);
  const cat = await libnfs('nfs-cat', [nfsUrl(served.port, exportPath, '/data.bin')]);
  assert.equal(cat.code, 0, cat.stderr);
  assert.ok(cat.stdout.equals(data));
  assert.notEqual((await libnfs('nfs-cat', [nfsUrl(served.port, exportPath, '/missing.txt')])).code, 0);
  const cp = await libnfs('nfs-cp', [path.join(stateDir, 'up.txt'), nfsUrl(served.port, exportPath, '/up.txt')]);
  assert.equal(cp.code, 0, cp.stderr);
  assert.equal((await mountCall({ host: '127.0.0.1', port: served.port }, exportPath)).kind, 'refused');

  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const s = samples(await res.text());
  const atLeast = (name: string, min: number) => {
    const v = s.get(name);
    assert.ok(v !== undefined && v >= min, `${name} = ${v}, expected >= ${min}`);
  };
  atLeast('s3nfs_rpc_requests_total{program="mount",procedure="MNT"}', 4);
  for (const proc of ['LOOKUP', 'READ', 'WRITE', 'CREATE', 'FSINFO']) atLeast(`s3nfs_rpc_requests_total{program="nfs",procedure="${proc}"}`, 1);
  atLeast('s3nfs_rpc_errors_total{program="nfs",procedure="LOOKUP",status="NFS3ERR_NOENT"}', 1);
  atLeast('s3nfs_rpc_duration_seconds_count{program="nfs",procedure="READ"}', 1);
  atLeast('s3nfs_rpc_rejected_total{reason="insecure_port"}', 1);
  assert.equal(s.get('s3nfs_nfs_read_bytes_total'), data.length);
  assert.equal(s.get('s3nfs_nfs_write_bytes_total'), upload.length);
  assert.equal(s.get('s3nfs_s3_requests_total{api="HeadBucket"}'), 1);
  atLeast('s3nfs_s3_requests_total{api="ListObjectsV2"}', 1);
  atLeast('s3nfs_s3_requests_total{api="GetObject"}', 1);
  atLeast('s3nfs_s3_downloaded_bytes_total', data.length);
  atLeast('s3nfs_prefetch_misses_total', 1);
  assert.equal(s.get('s3nfs_staged_files{state="staged"}'), 1);
  assert.equal(s.get('s3nfs_staged_bytes'), upload.length);
  assert.equal(s.get('s3nfs_buffer_memory_limit_bytes'), 512 * 1024 * 1024);
  assert.ok(s.has('s3nfs_clients_connected'));
  assert.equal(s.get('s3nfs_rpc_requests_total{program="nfs",procedure="RENAME"}'), 0, 'every procedure has its series, 0 until called');

  assert.equal(await stop(served), 0, 'SIGTERM publishes the staged file and exits 0');
  served = undefined;
  assert.equal((await store.head(`${prefix}/up.txt`))?.size, upload.length);
  await store.delete(`${prefix}/up.txt`);
});
