// Who may call a running `s3nfs serve`, seen from raw RPC clients: without --insecure a call from a
// source port >= 1024 is refused with AUTH_ERROR(AUTH_TOOWEAK) and one from a port < 1024 (root)
// is served; with --allow-client, a client outside the list is refused even from a privileged
// port, and each refused address is logged once with the reason. The allow-list test runs the
// server in a private network namespace whose loopback has two extra addresses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NFS3 } from '../../../protocol/nfs3/program.js';
import { NFS_PROGRAM, NFS_V3 } from '../../../protocol/nfs3/constants.js';
import { AuthStat } from '../../../protocol/rpc.js';
import { rpcCall } from '../../../src/portmap/rpc-call.js';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { bucket, endpoint, isRoot, mountCall, NO_SERVER, REPO, serve, stop, type MountOutcome, type Served } from './cli-helpers.js';

const TOOWEAK: MountOutcome = { kind: 'refused', detail: `AUTH_ERROR(${AuthStat.AUTH_TOOWEAK})` };

test('without --insecure: port >= 1024 gets AUTH_TOOWEAK, port < 1024 is served, NULL is answered from any port', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  if (!isRoot) return t.skip('binding a source port below 1024 needs root');
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `cli-admission-${randomUUID()}`;
  const stateDir = await mkdtemp(path.join(tmpdir(), 's3nfs-adm-'));
  await store.put({ key: `${prefix}/x.txt`, body: Buffer.from('x') });
  let served: Served | undefined;
  t.after(async () => {
    served?.child.kill('SIGKILL');
    await store.delete(`${prefix}/x.txt`);
    store.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });
  served = await serve([`${bucket}/${prefix}`, '--endpoint-url', endpoint, '--port', '0', '--portmap', 'off', '--state-dir', stateDir]);
  const exportPath = `/${bucket}/${prefix}`;
  const server = { host: '127.0.0.1', port: served.port };

  assert.deepEqual(await mountCall(server, exportPath), TOOWEAK);
  assert.deepEqual(await mountCall(server, exportPath), TOOWEAK);
  assert.deepEqual(await mountCall({ ...server, privilegedSourcePort: true }, exportPath), { kind: 'mounted' });
  await rpcCall(server, NFS_PROGRAM, NFS_V3, NFS3.procedures.NULL, undefined); // a ping from any port

  const warnings = served.stderr().split('\n').filter((l) => l.includes('refusing calls from a non-privileged source port'));
  assert.equal(warnings.length, 1, 'one warning for the refused address');
  assert.match(warnings[0]!, /level=warn .*client=127\.0\.0\.1 port=\d{4,5} .*reason=insecure_port/);
  assert.equal(await stop(served), 0);
  served = undefined;
});

test('--allow-client: a listed client mounts; any other is refused and logged once', async (t) => {
  if (!endpoint || !bucket) return t.skip(NO_SERVER);
  if (!isRoot || spawnSync('sh', ['-c', 'command -v unshare && command -v ip']).status !== 0) {
    return t.skip('needs root, unshare and ip for a private network namespace');
  }
  const store = new SdkObjectStore({ bucket, endpoint });
  const prefix = `cli-allow-${randomUUID()}`;
  const work = await mkdtemp(path.join(tmpdir(), 's3nfs-allow-'));
  await store.put({ key: `${prefix}/x.txt`, body: Buffer.from('x') });
  const s3 = new URL(endpoint);
  const socket = path.join(work, 's3.sock');
  // Host side of the S3 relay: the namespace cannot reach the host's loopback, a unix socket can.
  const relay = spawn(process.execPath, [path.join(REPO, 'scripts/uml/relay.mjs'), `unix:${socket}`, `tcp:127.0.0.1:${s3.port}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(async () => {
    relay.kill('SIGTERM');
    await store.delete(`${prefix}/x.txt`);
    store.destroy();
    await rm(work, { recursive: true, force: true });
  });
  await new Promise<void>((resolve) => relay.stdout.once('data', () => resolve()));

  const probe = fileURLToPath(new URL('./allow-client-probe.js', import.meta.url));
  const out = spawnSync('unshare', ['-n', process.execPath, probe, endpoint, `${bucket}/${prefix}`, socket, path.join(work, 'state')], {
    encoding: 'utf8',
    timeout: 90_000,
    env: process.env,
  });
  assert.equal(out.status, 0, out.stderr);
  const r = JSON.parse(out.stdout) as {
    fromListed: MountOutcome;
    fromOther: MountOutcome;
    fromOtherAgain: MountOutcome;
    serverExit: number | null;
    serverLog: string;
  };
  assert.deepEqual(r.fromListed, { kind: 'mounted' }, r.serverLog);
  assert.deepEqual(r.fromOther, TOOWEAK);
  assert.deepEqual(r.fromOtherAgain, TOOWEAK);
  assert.equal(r.serverExit, 0);
  const refusals = r.serverLog.split('\n').filter((l) => l.includes('refusing a client that --allow-client does not list'));
  assert.equal(refusals.length, 1, r.serverLog);
  assert.match(refusals[0]!, /level=warn .*client=10\.123\.0\.1 .*reason=not_allowed/);
  assert.match(r.serverLog, /msg="serving beyond loopback" allowClients=10\.123\.0\.2\/32/);
});
