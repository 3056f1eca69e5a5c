// --portmap with a real rpcbind: in a private network and mount namespace (its own port 111 and
// /run), rpcbind runs as on a normal host; `s3nfs serve --portmap on` registers NFS v3, MOUNT v3
// and NLM v4 there (rpcinfo shows them while it serves) and removes them when it stops.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bucket, CLI, endpoint, isRoot, NO_SERVER, REPO } from './cli-helpers.js';

const haveTools = spawnSync('sh', ['-c', 'command -v unshare && command -v rpcbind && command -v rpcinfo && command -v ip']).status === 0;

test('serve --portmap on registers with the running rpcbind and unregisters at stop', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  if (!isRoot || !haveTools) return t.skip('needs root, unshare, ip, rpcbind and rpcinfo');
  const work = await mkdtemp(path.join(tmpdir(), 's3nfs-rpcb-'));
  const s3 = new URL(endpoint);
  const socket = path.join(work, 's3.sock');
  const relay = spawn(process.execPath, [path.join(REPO, 'scripts/uml/relay.mjs'), `unix:${socket}`, `tcp:127.0.0.1:${s3.port}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(async () => {
    relay.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  });
  await new Promise<void>((resolve) => relay.stdout.once('data', () => resolve()));

  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = `
set -u
ip link set lo up
mount -t tmpfs s3nfs-test-run /run && mkdir -p /run/rpcbind
rpcbind -f -w & RPCBIND=$!
for _ in $(seq 100); do [ -S /run/rpcbind.sock ] && break; sleep 0.05; done
${q(process.execPath)} ${q(path.join(REPO, 'scripts/uml/relay.mjs'))} tcp:127.0.0.1:${s3.port} unix:${q(socket)} > ${q(work)}/relay.out &
RELAY=$!
for _ in $(seq 100); do grep -q ready ${q(work)}/relay.out 2>/dev/null && break; sleep 0.05; done
${q(process.execPath)} ${q(CLI)} serve ${q(`${bucket}/cli-rpcb-${randomUUID()}`)} --endpoint-url ${q(endpoint)} --port 2049 \\
  --portmap on --state-dir ${q(work)}/state > ${q(work)}/serve.out 2> ${q(work)}/serve.err &
SERVE=$!
for _ in $(seq 300); do grep -q 'listening on' ${q(work)}/serve.out 2>/dev/null && break; sleep 0.05; done
echo '--- during'; rpcinfo -p 127.0.0.1
kill -TERM $SERVE; wait $SERVE; echo "--- serve exit $?"
echo '--- after'; rpcinfo -p 127.0.0.1
kill $RELAY $RPCBIND
cat ${q(work)}/serve.err >&2
`;
  const out = spawnSync('unshare', ['-m', '-n', 'bash', '-c', script], { encoding: 'utf8', timeout: 90_000, env: process.env });
  const [, during = '', after = ''] = out.stdout.split(/^--- (?:during|after)$/m);
  assert.match(during, /^\s+100003\s+3\s+tcp\s+2049\s+nfs$/m, out.stdout + out.stderr);
  assert.match(during, /^\s+100005\s+3\s+tcp\s+2049\s+mountd$/m);
  assert.match(during, /^\s+100021\s+4\s+tcp\s+2049\s+nlockmgr$/m);
  assert.match(out.stdout, /^--- serve exit 0$/m, out.stderr);
  assert.match(after, /portmapper/, 'rpcbind still answers');
  assert.doesNotMatch(after, /nfs|mountd|nlockmgr/, 'our registrations are gone');
  assert.match(out.stderr, /msg="registered with rpcbind" via="tcp 127\.0\.0\.1:111" entries=3/);
  assert.doesNotMatch(out.stderr, /level=(warn|error)/);
});
