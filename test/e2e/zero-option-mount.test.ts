// `mount -t nfs HOST:/bucket DIR` with no options, from a Linux 6.1 client set up like a normal host
// (rpcbind and rpc.statd running, the NFSv4 module loaded). The client asks port 111 for MOUNT and
// NFS, tries NFSv4 first (s3nfs answers PROG_MISMATCH, so it falls back to v3), mounts with the
// default `lock` option, reads, writes, and takes fcntl locks through s3nfs's lock manager.
// Two ways the client finds the ports: s3nfs answering portmap on port 111 itself (with the status
// monitor's SM_NOTIFY beside it: a client that restarts holding a lock gets it released), and s3nfs
// registered with an rpcbind running on the server's side.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  createBucket,
  deleteBucket,
  patternSha256,
  s3Client,
  s3EnvFromProcess,
  seedObjects,
  uniqueBucketName,
} from './support/seed.js';
import { describeRun, runInGuest, shellQuote, umlUnavailableReason, type GuestRunResult } from './support/uml.js';

const s3 = s3EnvFromProcess();
const unavailable = umlUnavailableReason() ?? (s3 ? null : 'S3NFS_TEST_ENDPOINT is not set (run through scripts/test.sh)');
const DATA_SEED = 'zero-option-data';
const DATA_SIZE = 3 * 1024 * 1024 + 7;

/**
 * The guest: a host's usual NFS client services, then the plain mount and some work on it.
 * Results go to $UML_FILES; the exit status says which step failed.
 */
const GUEST_SCRIPT = String.raw`
set -u
M=/usr/lib/uml/modules/$(uname -r)/kernel
insmod $M/net/dns_resolver/dns_resolver.ko && insmod $M/fs/nfs/nfsv4.ko || exit 10
# statd keeps its state in /var/lib/nfs (read-only here), and looks names up: with no DNS in the
# guest, make lookups fail at once instead of timing out.
mount -t tmpfs statd /var/lib/nfs && mkdir -p /var/lib/nfs/sm /var/lib/nfs/sm.bak && chown statd /var/lib/nfs/sm /var/lib/nfs/sm.bak
: > /tmp/resolv.conf && mount --bind /tmp/resolv.conf /etc/resolv.conf
mkdir -p /run/rpcbind && rpcbind -w && rpc.statd || exit 11
rpcinfo -p localhost > $UML_FILES/guest-rpcinfo.txt 2>&1
mkdir -p /tmp/zero
mount -v -t nfs "$UML_HOST_ADDR:/$BUCKET" /tmp/zero > $UML_FILES/mount.log 2>&1 || exit 12
grep ' /tmp/zero ' /proc/mounts > $UML_FILES/mounts.txt
rpcinfo -p "$UML_HOST_ADDR" > $UML_FILES/server-rpcinfo.txt 2>&1
cat /tmp/zero/hello.txt > $UML_FILES/hello.txt || exit 13
sha256sum /tmp/zero/dir/data.bin | cut -d' ' -f1 > $UML_FILES/data.sha || exit 14
echo "written by the guest" > /tmp/zero/from-guest.txt || exit 15
F=/tmp/zero/from-guest.txt python3 - > $UML_FILES/locks.txt 2>&1 <<'PY' || exit 16
import fcntl, os, time
path = os.environ['F']
f = open(path, 'r+')
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
print('parent locked', flush=True)
pid = os.fork()
if pid == 0:
    g = open(path, 'r+')
    try:
        fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print('child locked while the parent held the lock', flush=True)
    except OSError:
        print('child refused while the parent holds it', flush=True)
    fcntl.lockf(g, fcntl.LOCK_EX)
    print('child locked after the parent unlocked', flush=True)
    os._exit(0)
time.sleep(1)
fcntl.lockf(f, fcntl.LOCK_UN)
_, status = os.waitpid(pid, 0)
print('child exit', status, flush=True)
PY
if [ "$NOTIFY" = 1 ]; then
  # A lock held while this client "restarts": sm-notify tells the server, which drops the lock.
  F=/tmp/zero/from-guest.txt python3 -c 'import fcntl, os, time; f = open(os.environ["F"], "r+"); fcntl.lockf(f, fcntl.LOCK_EX); print("held", flush=True); time.sleep(8)' > $UML_FILES/held.txt &
  for _ in $(seq 50); do grep -q held $UML_FILES/held.txt 2>/dev/null && break; sleep 0.1; done
  timeout 20 sm-notify -f -d > $UML_FILES/sm-notify.log 2>&1 || exit 18
  wait
fi
umount /tmp/zero || exit 17
echo ok
`;

function text(r: GuestRunResult, name: string): string {
  return r.files.get(name)?.toString() ?? '';
}

async function objectText(client: S3Client, bucket: string, key: string): Promise<string> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await got.Body?.transformToString()) ?? '';
}

/** Runs the guest against `s3nfs serve` started by `serverCommand(serveCommandLine)`. */
async function zeroOptionRun(purpose: string, notify: boolean, wrap: (serve: string) => string): Promise<{ r: GuestRunResult; client: S3Client; bucket: string; cleanup: () => Promise<void> }> {
  const env = s3!;
  const client = s3Client(env);
  const bucket = uniqueBucketName(purpose);
  await createBucket(client, bucket);
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-e2e-zero-'));
  const cleanup = async () => {
    await deleteBucket(client, bucket).catch(() => undefined);
    client.destroy();
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    await seedObjects(client, bucket, [
      { key: 'hello.txt', body: Buffer.from('hello from s3\n') },
      { key: 'dir/data.bin', seed: DATA_SEED, size: DATA_SIZE },
    ]);
    const serve = [
      './bin/s3nfs serve',
      shellQuote(bucket),
      '--endpoint-url',
      shellQuote(env.endpoint),
      '--listen "$UML_HOST_ADDR" --allow-client "$UML_GUEST_ADDR" --port 2049 --publish-delay 1',
      '--state-dir',
      shellQuote(stateDir),
    ].join(' ');
    const r = await runInGuest({
      serverCommand: wrap(serve),
      serverPort: 2049,
      s3Endpoint: env.endpoint,
      mount: null,
      guestScript: GUEST_SCRIPT,
      guestEnv: { BUCKET: bucket, NOTIFY: notify ? '1' : '0' },
      timeoutMs: 90_000,
      serverStopTimeoutMs: 30_000,
    });
    return { r, client, bucket, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function assertPlainMountWorked(r: GuestRunResult): void {
  assert.equal(r.exitCode, 0, describeRun(r));
  const mountLog = text(r, 'mount.log');
  // NFSv4 was asked first and refused as a protocol the server does not have, then v3 mounted.
  assert.match(mountLog, /trying text-based options 'vers=4\.2,/, mountLog);
  assert.match(mountLog, /mount\(2\): Protocol not supported/);
  const mounted = text(r, 'mounts.txt');
  assert.match(mounted, /\bvers=3\b/, mounted);
  assert.match(mounted, /\bproto=tcp\b/);
  assert.match(mounted, /\blocal_lock=none\b/, 'locks go to the server (the default lock option)');
  assert.doesNotMatch(mounted, /\bnolock\b/);
  assert.match(text(r, 'guest-rpcinfo.txt'), /\bstatus\b/, 'rpc.statd runs in the guest');
  assert.equal(text(r, 'hello.txt'), 'hello from s3\n');
  assert.equal(text(r, 'data.sha').trim(), patternSha256(DATA_SEED, 0, DATA_SIZE));
  assert.equal(
    text(r, 'locks.txt'),
    'parent locked\nchild refused while the parent holds it\nchild locked after the parent unlocked\nchild exit 0\n',
  );
  const rpcinfo = text(r, 'server-rpcinfo.txt');
  for (const service of ['nfs', 'mountd', 'nlockmgr']) {
    assert.match(rpcinfo, new RegExp(`\\s2049\\s+${service}$`, 'm'), `rpcinfo -p shows ${service}:\n${rpcinfo}`);
  }
  assert.equal(r.serverExit, 0, r.serverLog);
}

test('mount -t nfs HOST:/bucket with no options: s3nfs answers the portmapper on port 111 itself', { timeout: 180_000 }, async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { r, client, bucket, cleanup } = await zeroOptionRun('zero', true, (serve) => `exec ${serve}`);
  try {
    assertPlainMountWorked(r);
    assert.match(r.serverLog, /msg="answering portmap queries \(no rpcbind runs here\)" port=111 udp=true/);
    // The status monitor's SM_NOTIFY is served beside it, for clients that restart holding locks.
    assert.match(text(r, 'server-rpcinfo.txt'), /^\s+100024\s+1\s+udp\s+111\s+status$/m);
    assert.match(text(r, 'sm-notify.log'), /notified successfully/, text(r, 'sm-notify.log'));
    assert.match(r.serverLog, /msg="client restarted: its locks are released" client=\S+ host=uml-guest locks=1/);
    assert.match(r.serverLog, /msg="client mounted" client=\S+ path=\/s3nfs-e2e-zero-/);
    assert.doesNotMatch(r.serverLog, /level=error/);
    assert.equal(await objectText(client, bucket, 'from-guest.txt'), 'written by the guest\n');
  } finally {
    await cleanup();
  }
});

test('mount -t nfs HOST:/bucket with no options: s3nfs registered with the server host\'s rpcbind', { timeout: 180_000 }, async (t) => {
  if (unavailable) return t.skip(unavailable);
  if (!s3) return;
  // rpcbind as on a normal server, with its own /run (a private mount namespace) so it meets no
  // other run's; s3nfs finds it on port 111 and registers there.
  const { r, client, bucket, cleanup } = await zeroOptionRun('zerorpcb', false, (serve) =>
    [
      'exec unshare -m bash -c',
      shellQuote(
        'mount -t tmpfs s3nfs-e2e-run /run && mkdir -p /run/rpcbind && { rpcbind -f -w & } && ' +
          'for _ in $(seq 100); do [ -S /run/rpcbind.sock ] && break; sleep 0.05; done; ' +
          `exec ${serve}`,
      ),
    ].join(' '),
  );
  try {
    assertPlainMountWorked(r);
    assert.match(r.serverLog, /msg="registered with rpcbind" via="tcp 127\.0\.0\.1:111" entries=3/);
    assert.doesNotMatch(r.serverLog, /answering portmap queries/);
    assert.equal(await objectText(client, bucket, 'from-guest.txt'), 'written by the guest\n');
  } finally {
    await cleanup();
  }
});
