// Run inside a fresh network namespace (`unshare -n node allow-client-probe.js …`) by
// admission.test.ts: gives the namespace's loopback two more addresses, reaches the host's S3
// through a unix-socket relay, starts `s3nfs serve --listen A --allow-client B` and makes MOUNT
// calls from B (listed) and from A (not listed), then stops the server and prints one JSON line:
// { fromListed, fromOther, fromOtherAgain, serverExit, serverLog }.
//
// Usage: node allow-client-probe.js S3_ENDPOINT BUCKET/PREFIX RELAY_SOCKET STATE_DIR

import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { CLI, REPO, mountCall, type MountOutcome } from './cli-helpers.js';

const SERVER = '10.123.0.1';
const LISTED = '10.123.0.2';
const PORT = 2049;

async function main(): Promise<void> {
  const [endpoint, target, relaySocket, stateDir] = process.argv.slice(2);
  if (!endpoint || !target || !relaySocket || !stateDir) throw new Error('usage: allow-client-probe.js ENDPOINT TARGET SOCKET STATE_DIR');
  const s3 = new URL(endpoint);
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  execFileSync('ip', ['addr', 'add', `${SERVER}/32`, 'dev', 'lo']);
  execFileSync('ip', ['addr', 'add', `${LISTED}/32`, 'dev', 'lo']);

  const relay = spawn(process.execPath, [path.join(REPO, 'scripts/uml/relay.mjs'), `tcp:127.0.0.1:${s3.port}`, `unix:${relaySocket}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    relay.stdout.once('data', () => resolve());
    relay.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
  });

  const server = spawn(
    process.execPath,
    [CLI, 'serve', target, '--endpoint-url', endpoint, '--listen', SERVER, '--port', String(PORT), '--allow-client', LISTED, '--portmap', 'off', '--state-dir', stateDir],
    { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
  );
  let log = '';
  server.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('listening on')) resolve();
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${log}`)));
  });

  const exportPath = `/${target.replace(/\/+$/, '')}`;
  const from = (address: string): Promise<MountOutcome> =>
    mountCall({ host: SERVER, port: PORT, localAddress: address, privilegedSourcePort: true }, exportPath);
  const fromListed = await from(LISTED);
  const fromOther = await from(SERVER);
  const fromOtherAgain = await from(SERVER);
  server.kill('SIGTERM');
  const serverExit = await exited;
  relay.kill('SIGTERM');
  process.stdout.write(`${JSON.stringify({ fromListed, fromOther, fromOtherAgain, serverExit, serverLog: log })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`allow-client-probe: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
