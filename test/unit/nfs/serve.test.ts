// Pieces of `s3nfs serve` that need no S3: the admission policy it installs and the adapter from
// the server core's log fields to one-line logfmt/JSON.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MOUNT_PROGRAM, MountProc } from '../../../protocol/mount.js';
import { NFS_PROGRAM, Nfs3Proc } from '../../../protocol/nfs3/constants.js';
import { PMAP_PROGRAM, PmapProc } from '../../../protocol/portmap.js';
import { AuthFlavor, AuthStat } from '../../../protocol/rpc.js';
import { serveAdmission, serverLogger } from '../../../src/cli/serve.js';
import { createLogger } from '../../../src/log/logger.js';
import type { CallInfo } from '../../../src/server/index.js';
import { RecordingLogger } from './harness.js';

function call(program: number, procedure: number, port: number): CallInfo {
  return {
    xid: 1,
    program,
    version: 3,
    procedure,
    client: { address: '127.0.0.1', port },
    connectionId: 1,
    cred: { flavor: AuthFlavor.AUTH_NONE },
  };
}

test('by default NFS and MNT calls need a privileged source port; pings, portmap and EXPORT do not', () => {
  const policy = serveAdmission(false, new RecordingLogger());
  assert.ok(policy);
  const refused = { admit: false, authStat: AuthStat.AUTH_TOOWEAK };
  assert.deepEqual(policy(call(NFS_PROGRAM, Nfs3Proc.GETATTR, 40000)), refused);
  assert.deepEqual(policy(call(MOUNT_PROGRAM, MountProc.MNT, 40000)), refused);
  assert.deepEqual(policy(call(MOUNT_PROGRAM, MountProc.DUMP, 40000)), refused);
  assert.deepEqual(policy(call(NFS_PROGRAM, Nfs3Proc.GETATTR, 700)), { admit: true });
  assert.deepEqual(policy(call(NFS_PROGRAM, Nfs3Proc.NULL, 40000)), { admit: true });
  assert.deepEqual(policy(call(PMAP_PROGRAM, PmapProc.GETPORT, 40000)), { admit: true });
  assert.deepEqual(policy(call(MOUNT_PROGRAM, MountProc.EXPORT, 40000)), { admit: true });
  assert.equal(serveAdmission(true, new RecordingLogger()), undefined, '--insecure admits everything');
});

test('log fields from the server core become one-line scalars; error lines carry the stack', () => {
  const lines: string[] = [];
  const log = serverLogger(createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) }));
  log.error('procedure failed', { err: new TypeError('bad\nthing', { cause: new Error('root cause') }), id: 5n, obj: { a: 1 } });
  log.info('hello', { err: new Error('plain'), none: undefined, list: [1, 2] });
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.match(String(first['err']), /^TypeError: bad thing \(cause: root cause\) \[.*serve\.test\.js/);
  assert.equal(first['id'], '5');
  assert.equal(first['obj'], '{"a":1}');
  const second = JSON.parse(lines[1]!) as Record<string, unknown>;
  assert.equal(second['err'], 'Error: plain', 'no stack below error level');
  assert.equal('none' in second, false);
  assert.equal(second['list'], '[1,2]');
});
