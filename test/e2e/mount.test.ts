// `s3nfs mount` and `s3nfs unmount` where the kernel has an NFS client: inside the UML guest, which
// reaches the S3 server through a relay on the host side of the test network. In the background
// (the default) and attached (-f): the mount appears with the options that need no portmapper,
// files read and write, `status` shows the export and the staged file, `flush PATH` publishes it,
// and `unmount` unmounts, publishes the rest and stops the server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StatusReport } from '../../src/control/protocol.js';
import { createBucket, deleteBucket, s3Client, s3EnvFromProcess, seedObjects, uniqueBucketName } from './support/seed.js';
import { describeRun, repoRoot, runInGuest, shellQuote, umlUnavailableReason } from './support/uml.js';

const s3 = s3EnvFromProcess();
const unavailable = umlUnavailableReason() ?? (s3 ? null : 'S3NFS_TEST_ENDPOINT is not set (run through scripts/test.sh)');
/** Where the guest reaches S3: a relay on the host side of the test network (10.77.X.1). */
const RELAY_PORT = 17480;

const GUEST_SCRIPT = String.raw`
set -u
cd /
s3nfs() { node "$REPO/bin/s3nfs" "$@"; }
S=/tmp/state-bg S2=/tmp/state-fg
EP="http://$UML_HOST_ADDR:$RELAY_PORT"
mkdir -p /tmp/mp /tmp/mp2

# In the background.
s3nfs mount "$BUCKET/data" /tmp/mp --endpoint-url "$EP" --state-dir $S --publish-delay 600 > $UML_FILES/mount.out 2>&1 || exit 10
grep ' /tmp/mp ' /proc/mounts > $UML_FILES/mounts.txt
cat /sys/class/bdi/$(mountpoint -d /tmp/mp)/read_ahead_kb > $UML_FILES/read-ahead.txt
cat /tmp/mp/hello.txt > $UML_FILES/hello.txt || exit 11
echo 'flushed by hand' > /tmp/mp/flushed.txt || exit 12
echo 'published at unmount' > /tmp/mp/later.txt || exit 13
s3nfs status --state-dir $S --json > $UML_FILES/status.json 2> $UML_FILES/status.err || exit 14
s3nfs flush /tmp/mp/flushed.txt --state-dir $S > $UML_FILES/flush.out 2>&1 || exit 15
s3nfs unmount /tmp/mp --state-dir $S > $UML_FILES/unmount.out 2>&1 || exit 16
grep -q ' /tmp/mp ' /proc/mounts && exit 17
[ -e $S/s3nfs.pid ] && exit 18

# Attached (-f): the command keeps running until it is unmounted.
s3nfs mount -f "$BUCKET/data" /tmp/mp2 --endpoint-url "$EP" --state-dir $S2 --read-only --read-ahead-kb 0 > $UML_FILES/fg.log 2>&1 &
FG=$!
for _ in $(seq 600); do grep -q ' /tmp/mp2 ' /proc/mounts && break; sleep 0.1; done
grep ' /tmp/mp2 ' /proc/mounts > $UML_FILES/mounts2.txt || exit 20
cat /sys/class/bdi/$(mountpoint -d /tmp/mp2)/read_ahead_kb > $UML_FILES/read-ahead2.txt
cat /tmp/mp2/later.txt > $UML_FILES/later.txt || exit 21
{ echo nope > /tmp/mp2/ro.txt; } 2> $UML_FILES/ro.err && exit 22
s3nfs unmount /tmp/mp2 --state-dir $S2 > $UML_FILES/unmount2.out 2>&1 || exit 23
wait $FG; echo "fg exit $?" > $UML_FILES/fg.exit
echo ok
`;

async function objectText(client: S3Client, bucket: string, key: string): Promise<string> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await got.Body?.transformToString()) ?? '';
}

test('s3nfs mount / status / flush / unmount in a guest whose kernel has NFS, in the background and with -f', { timeout: 240_000 }, async (t) => {
  if (unavailable) return t.skip(unavailable);
  if (!s3) return;
  const client = s3Client(s3);
  const bucket = uniqueBucketName('mountcmd');
  await createBucket(client, bucket);
  t.after(async () => {
    await deleteBucket(client, bucket).catch(() => undefined);
    client.destroy();
  });
  await seedObjects(client, bucket, [{ key: 'data/hello.txt', body: Buffer.from('hello from s3\n') }]);
  const s3Port = new URL(s3.endpoint).port;
  const creds: Record<string, string> = {};
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
    const v = process.env[k];
    if (v !== undefined) creds[k] = v;
  }

  const r = await runInGuest({
    // The "server" of this run is only the relay: s3nfs itself runs in the guest.
    serverCommand: `exec node scripts/uml/relay.mjs "tcp:$UML_HOST_ADDR:${RELAY_PORT}" ${shellQuote(`tcp:127.0.0.1:${s3Port}`)}`,
    serverPort: RELAY_PORT,
    s3Endpoint: s3.endpoint,
    mount: null,
    guestScript: GUEST_SCRIPT,
    guestEnv: { ...creds, BUCKET: bucket, RELAY_PORT: String(RELAY_PORT), REPO: repoRoot.replace(/\/$/, '') },
    timeoutMs: 180_000,
  });
  const file = (name: string) => r.files.get(name)?.toString() ?? '';
  const all = `${describeRun(r)}\n${[...r.files].map(([k, v]) => `--- ${k}\n${v.toString()}`).join('\n')}`;
  assert.equal(r.exitCode, 0, all);

  assert.match(file('mount.out'), /^s3nfs: mounted s3:\/\/\S+\/data\/ on \/tmp\/mp \(server pid \d+, log \/tmp\/state-bg\/s3nfs\.log\)\n$/);
  assert.match(file('mounts.txt'), /^127\.0\.0\.1:\/s3nfs-e2e-mountcmd-\w+\/data \/tmp\/mp nfs .*\bvers=3\b.*\bport=\d+\b/);
  assert.match(file('mounts.txt'), /\blocal_lock=all\b/, 'nolock: locks stay in the guest kernel');
  assert.equal(file('hello.txt'), 'hello from s3\n');
  assert.equal(file('read-ahead.txt'), '15360\n', 'the mount reads ahead 15 MiB');

  const status = JSON.parse(file('status.json')) as StatusReport;
  assert.deepEqual(
    status.exports.map((e) => [e.path, e.mountpoint]),
    [[`/${bucket}/data`, '/tmp/mp']],
  );
  assert.deepEqual(status.pending.map((p) => p.path).sort(), ['flushed.txt', 'later.txt']);
  assert.equal(status.uploads.staged, 2);
  assert.ok(status.clients.some((c) => c.address === '127.0.0.1' && c.mounts.includes(`/${bucket}/data`)), file('status.json'));

  assert.equal(file('flush.out'), '  flushed.txt: published\n1 published, 0 failed, 1 in all\n');
  assert.match(file('unmount.out'), /^s3nfs: unmounted \/tmp\/mp\ns3nfs: published 1 file\ns3nfs: server \d+ stopped\n$/);
  assert.equal(await objectText(client, bucket, 'data/flushed.txt'), 'flushed by hand\n');
  assert.equal(await objectText(client, bucket, 'data/later.txt'), 'published at unmount\n');

  assert.match(file('mounts2.txt'), /\/tmp\/mp2 nfs ro,/);
  assert.equal(file('read-ahead2.txt'), '128\n', "--read-ahead-kb 0 keeps the kernel's default");
  assert.equal(file('later.txt'), 'published at unmount\n');
  assert.match(file('ro.err'), /Read-only file system/);
  assert.match(file('unmount2.out'), /^s3nfs: unmounted \/tmp\/mp2\ns3nfs: server \d+ stopped\n$/);
  assert.equal(file('fg.exit'), 'fg exit 0\n', file('fg.log'));
  assert.match(file('fg.log'), /msg=mounted dir=\/tmp\/mp2/);
});
