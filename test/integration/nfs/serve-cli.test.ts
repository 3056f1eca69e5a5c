// `s3nfs serve` as a user runs it, against the configured S3 server (Ceph RGW in the test command):
// the CLI starts, prints its listening line, serves listings and file contents to libnfs's
// command-line tools (nfs-ls, nfs-cat), and exits 0 on SIGTERM. Start-up failures (bad flag,
// missing bucket, port in use) are one line on stderr and a non-zero exit, before listening.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { bucket, endpoint, haveLibnfs, libnfs, NO_SERVER, runCli, serve, type Served } from '../cli/cli-helpers.js';

test('serve: nfs-ls lists and nfs-cat reads objects through the CLI server; SIGTERM exits 0', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  if (!haveLibnfs) return t.skip('libnfs tools (nfs-ls, nfs-cat) are not installed: apt-get install libnfs-utils');
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `nfs-cli-${randomUUID()}`;
  const big = randomBytes(3 * 1024 * 1024 + 12345);
  const objects: Record<string, Buffer> = {
    'hello.txt': Buffer.from('hello from s3nfs\n'),
    'dir/a.txt': Buffer.from('aaa\n'),
    'dir/big.bin': big,
    'dir/deeper/z.txt': Buffer.from('zzz\n'),
  };
  const stateDir = await mkdtemp(join(tmpdir(), 's3nfs-nfs-cli-'));
  await Promise.all(Object.entries(objects).map(([k, body]) => store.put({ key: `${prefix}/${k}`, body })));
  let served: Served | undefined;
  try {
    served = await serve([`${bucket}/${prefix}`, '--endpoint-url', endpoint, '--port', '0', '--insecure', '--state-dir', stateDir]);
    const url = (path: string) => `nfs://127.0.0.1/${bucket}/${prefix}${path}?version=3&nfsport=${served!.port}&mountport=${served!.port}`;

    const ls = await libnfs('nfs-ls', [url('')]);
    assert.equal(ls.code, 0, ls.stderr);
    const top = ls.stdout.toString().trim().split('\n').map((l) => l.trim().split(/\s+/));
    assert.deepEqual(top.map((cols) => cols.at(-1)).sort(), ['dir', 'hello.txt']);
    const hello = top.find((cols) => cols.at(-1) === 'hello.txt')!;
    assert.equal(hello[0], '-rw-r--r--');
    assert.equal(hello.at(-2), String(objects['hello.txt']!.length));

    const recursive = await libnfs('nfs-ls', ['-R', url('')]);
    assert.equal(recursive.code, 0, recursive.stderr);
    const names = recursive.stdout.toString().trim().split('\n').map((l) => l.trim().split(/\s+/).at(-1)).sort();
    assert.deepEqual(names, ['dir', 'dir/a.txt', 'dir/big.bin', 'dir/deeper', 'dir/deeper/z.txt', 'hello.txt']);

    const cat = await libnfs('nfs-cat', [url('/hello.txt')]);
    assert.equal(cat.code, 0, cat.stderr);
    assert.deepEqual(cat.stdout, objects['hello.txt']);

    // A file in a subdirectory: libnfs mounts its parent directory, then reads.
    const catBig = await libnfs('nfs-cat', [url('/dir/big.bin')]);
    assert.equal(catBig.code, 0, catBig.stderr);
    assert.equal(catBig.stdout.length, big.length);
    assert.ok(catBig.stdout.equals(big), 'the 3 MiB object reads back byte for byte');

    const missing = await libnfs('nfs-cat', [url('/nope.txt')]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /NOENT/);

    served.child.kill('SIGTERM');
    assert.equal(await served.exited, 0);
    assert.match(served.stderr(), /msg=stopped/);
    assert.match(served.stderr(), /mount -t nfs -o vers=3,proto=tcp,port=\d+,mountport=\d+,mountproto=tcp,nolock 127\.0\.0\.1:\//);
    assert.doesNotMatch(served.stderr(), /level=error/);
    served = undefined;
  } finally {
    served?.child.kill('SIGKILL');
    await Promise.all(Object.keys(objects).map((k) => store.delete(`${prefix}/${k}`)));
    store.destroy();
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('serve without --insecure: a client on a privileged port mounts, one on an unprivileged port is refused', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  if (!haveLibnfs) return t.skip('libnfs tools (nfs-ls, nfs-cat) are not installed: apt-get install libnfs-utils');
  // libnfs binds a port below 1024 when it runs as root; setpriv runs it as nobody instead.
  if (process.getuid?.() !== 0 || spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0) {
    return t.skip('needs root and setpriv to run clients from both kinds of port');
  }
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `nfs-cli-secure-${randomUUID()}`;
  const stateDir = await mkdtemp(join(tmpdir(), 's3nfs-nfs-cli-'));
  await store.put({ key: `${prefix}/only.txt`, body: Buffer.from('x') });
  let served: Served | undefined;
  try {
    served = await serve([`${bucket}/${prefix}`, '--endpoint-url', endpoint, '--port', '0', '--state-dir', stateDir]);
    const url = `nfs://127.0.0.1/${bucket}/${prefix}?version=3&nfsport=${served.port}&mountport=${served.port}`;
    const asRoot = await libnfs('nfs-ls', [url]);
    assert.equal(asRoot.code, 0, asRoot.stderr);
    assert.match(asRoot.stdout.toString(), /only\.txt/);
    const asNobody = await new Promise<number>((resolve) => {
      execFile('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'nfs-ls', url], { timeout: 30_000 }, (err) =>
        resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0),
      );
    });
    assert.notEqual(asNobody, 0, 'nfs-ls from an unprivileged port must fail');
    assert.match(served.stderr(), /level=warn msg="refusing calls from a non-privileged source port/);
    served.child.kill('SIGTERM');
    assert.equal(await served.exited, 0);
    served = undefined;
  } finally {
    served?.child.kill('SIGKILL');
    await store.delete(`${prefix}/only.txt`);
    store.destroy();
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('serve: a bucket that does not exist is one line on stderr and exit 1, before listening', async (t) => {
  if (!endpoint) return t.skip(NO_SERVER);
  const stateDir = await mkdtemp(join(tmpdir(), 's3nfs-nfs-cli-'));
  try {
    const missing = `no-such-bucket-${randomUUID().slice(0, 8)}`;
    const run = await runCli(['serve', missing, '--endpoint-url', endpoint, '--port', '0', '--state-dir', stateDir]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '', 'nothing on stdout: it never listened');
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, new RegExp(`^s3nfs: cannot serve s3://${missing}/: .*${missing}.*does not exist`));
    assert.ok(lines[0]!.includes(endpoint), 'names the endpoint');
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('serve: a port already in use is one line on stderr and exit 1', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  const stateDir = await mkdtemp(join(tmpdir(), 's3nfs-nfs-cli-'));
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const run = await runCli(['serve', bucket, '--endpoint-url', endpoint, '--port', String(port), '--state-dir', stateDir]);
    assert.equal(run.code, 1);
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, new RegExp(`^s3nfs: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  } finally {
    blocker.close();
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('serve: an unknown flag or a bad value is one line on stderr and exit 2', async () => {
  for (const args of [
    ['serve', 'some-bucket', '--no-such-flag'],
    ['serve', 'some-bucket', '--port', 'many'],
    ['serve', 'some-bucket', '--file-mode', '999'],
  ]) {
    const run = await runCli(args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /^s3nfs: /);
    assert.equal(run.stdout, '');
  }
});
