// A background server driven from the command line through its control socket, against the
// configured S3 server: `serve --daemon` (pid file, log file), `status` (exports, clients, pending
// uploads with bytes), `flush PATH` (publishes now), `stop` and `unmount` (publish, then stop);
// `mount` on a kernel without an NFS client refusing in one line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listsNfs } from '../../../src/cli/nfs-client.js';
import type { StatusReport } from '../../../src/control/protocol.js';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { bucket, endpoint, haveLibnfs, isRoot, libnfs, NO_SERVER, nfsUrl, runCli } from './cli-helpers.js';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function objectText(store: SdkObjectStore, key: string): Promise<string | undefined> {
  const info = await store.head(key);
  if (!info) return undefined;
  const got = await store.get({ key });
  return got.body.toString();
}

async function statusOf(stateDir: string): Promise<StatusReport> {
  const r = await runCli(['status', '--state-dir', stateDir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusReport;
}

test('serve --daemon, status, flush PATH and stop through the control socket', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  if (!haveLibnfs || !isRoot) return t.skip('needs root and libnfs tools (nfs-cp) to write through a privileged port');
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `cli-control-${randomUUID()}`;
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-ctl-'));
  const local = path.join(stateDir, 'upload.txt');
  await writeFile(local, 'staged until flushed\n');
  let pid: number | undefined;
  t.after(async () => {
    if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await store.delete(`${prefix}/hello.txt`).catch(() => {});
    store.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });

  const started = await runCli([
    'serve',
    `${bucket}/${prefix}`,
    '--endpoint-url',
    endpoint,
    '--port',
    '0',
    '--portmap',
    'off',
    '--state-dir',
    stateDir,
    '--publish-delay',
    '3600',
    '--daemon',
  ]);
  assert.equal(started.code, 0, started.stderr);
  const m = /^s3nfs: serving s3:\/\/\S+ on 127\.0\.0\.1:(\d+) in the background \(pid (\d+), log (\S+)\)$/m.exec(started.stdout);
  assert.ok(m, started.stdout);
  pid = Number(m[2]);
  const port = Number(m[1]);
  assert.equal(m[3], path.join(stateDir, 's3nfs.log'));
  assert.equal(readFileSync(path.join(stateDir, 's3nfs.pid'), 'utf8').trim(), String(pid));

  const before = await statusOf(stateDir);
  assert.equal(before.pid, pid);
  assert.deepEqual(before.exports.map((e) => e.path), [`/${bucket}/${prefix}`]);
  assert.deepEqual(before.listen, [{ host: '127.0.0.1', port }]);
  assert.deepEqual(before.pending, []);

  const exportPath = `/${bucket}/${prefix}`;
  const cp = await libnfs('nfs-cp', [local, nfsUrl(port, exportPath, '/hello.txt')]);
  assert.equal(cp.code, 0, cp.stderr);

  const staged = await statusOf(stateDir);
  assert.deepEqual(staged.uploads, { staged: 1, publishing: 0, failed: 0, pendingBytes: 21 });
  assert.deepEqual(
    staged.pending.map((f) => [f.path, f.phase, f.size]),
    [['hello.txt', 'writing', 21]],
  );
  assert.ok(staged.clients.some((c) => c.address === '127.0.0.1' && c.calls > 0), JSON.stringify(staged.clients));
  assert.equal(await objectText(store, `${prefix}/hello.txt`), undefined, 'not in S3 before the flush');

  const text = await runCli(['status', '--state-dir', stateDir]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /uploads {3}1 staged, 0 publishing, 0 failed; 21 B not yet in S3/);
  assert.match(text.stdout, /staged {5}hello\.txt {2}\(21 B\)/);

  const nothing = await runCli(['flush', 'no/such/dir', '--state-dir', stateDir]);
  assert.equal(nothing.code, 0, nothing.stderr);
  assert.equal(nothing.stdout, 'nothing to publish under no/such/dir\n');

  const flushed = await runCli(['flush', '/hello.txt', '--state-dir', stateDir]);
  assert.equal(flushed.code, 0, flushed.stderr);
  assert.equal(flushed.stdout, '  hello.txt: published\n1 published, 0 failed, 1 in all\n');
  assert.equal(await objectText(store, `${prefix}/hello.txt`), 'staged until flushed\n');
  assert.deepEqual((await statusOf(stateDir)).pending, []);

  const stopped = await runCli(['stop', '--state-dir', stateDir]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(stopped.stdout, `s3nfs: server ${pid} stopped\n`);
  assert.equal(processAlive(pid), false);
  assert.equal(existsSync(path.join(stateDir, 's3nfs.pid')), false, 'the pid file goes with the server');
  assert.equal(existsSync(path.join(stateDir, 'control.sock')), false);

  const gone = await runCli(['status', '--state-dir', stateDir]);
  assert.equal(gone.code, 3, gone.stderr);
  assert.equal(gone.stderr, `s3nfs: no server is running with state directory ${stateDir}\n`);
  const log = await readFile(path.join(stateDir, 's3nfs.log'), 'utf8');
  assert.match(log, /msg="flush requested" path=hello\.txt files=1/);
  assert.match(log, /msg=stopped/);
  assert.doesNotMatch(log, /level=error/);
});

test('unmount of a directory that is not mounted still publishes pending writes and stops its server', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  if (!haveLibnfs || !isRoot) return t.skip('needs root and libnfs tools (nfs-cp) to write through a privileged port');
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `cli-unmount-${randomUUID()}`;
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-unm-'));
  const local = path.join(stateDir, 'upload.txt');
  await writeFile(local, 'published at unmount\n');
  let pid: number | undefined;
  t.after(async () => {
    if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await store.delete(`${prefix}/f.txt`).catch(() => {});
    store.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });
  const started = await runCli([
    'serve', `${bucket}/${prefix}`, '--endpoint-url', endpoint, '--port', '0', '--portmap', 'off',
    '--state-dir', stateDir, '--publish-delay', '3600', '--daemon',
  ]);
  assert.equal(started.code, 0, started.stderr);
  pid = Number(/\(pid (\d+),/.exec(started.stdout)?.[1]);
  const port = Number(/on 127\.0\.0\.1:(\d+) /.exec(started.stdout)?.[1]);
  const cp = await libnfs('nfs-cp', [local, nfsUrl(port, `/${bucket}/${prefix}`, '/f.txt')]);
  assert.equal(cp.code, 0, cp.stderr);

  const r = await runCli(['unmount', path.join(stateDir, 'not-mounted'), '--state-dir', stateDir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `s3nfs: published 1 file\ns3nfs: server ${pid} stopped\n`);
  assert.equal(await objectText(store, `${prefix}/f.txt`), 'published at unmount\n');
  assert.equal(processAlive(pid), false);

  const again = await runCli(['unmount', path.join(stateDir, 'not-mounted'), '--state-dir', stateDir]);
  assert.equal(again.code, 3);
  assert.match(again.stderr, /is not mounted and no server runs for it/);
});

test('a background server that cannot start says why in one line', async (t) => {
  if (!endpoint) return t.skip(NO_SERVER);
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-bad-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const missing = `no-such-bucket-${randomUUID().slice(0, 8)}`;
  const r = await runCli(['serve', missing, '--endpoint-url', endpoint, '--port', '0', '--portmap', 'off', '--state-dir', stateDir, '--daemon']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^s3nfs: the server did not start: cannot serve s3://${missing}/: .+\\(log: ${stateDir}/s3nfs\\.log\\)\\n$`));
});

test('mount on a kernel without an NFS client refuses in one line and starts nothing', async (t) => {
  if (listsNfs(readFileSync('/proc/filesystems', 'utf8'))) return t.skip('this kernel has an NFS client');
  if (!isRoot) return t.skip('s3nfs mount checks for root first');
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-nonfs-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const r = await runCli(['mount', 'some-bucket', stateDir, '--state-dir', path.join(stateDir, 'state'), '--endpoint-url', 'http://127.0.0.1:9']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^s3nfs: this kernel has no NFS client \("nfs" is not in \/proc\/filesystems[^\n]*\), so s3nfs cannot mount here; run "s3nfs serve" and mount from a machine whose kernel has one\n$/);
  assert.equal(existsSync(path.join(stateDir, 'state')), false, 'no server was started');
});

test('status and stop with no server say so (exit 3)', async (t) => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-none-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  for (const cmd of ['status', 'stop', 'flush']) {
    const r = await runCli([cmd, '--state-dir', stateDir]);
    assert.equal(r.code, 3, `${cmd}: ${r.stderr}`);
    assert.equal(r.stderr, `s3nfs: no server is running with state directory ${stateDir}\n`, cmd);
  }
});
