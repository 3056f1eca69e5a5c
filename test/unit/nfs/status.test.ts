// The FsError → nfsstat3 mapping and how failures are logged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NfsStat3 } from '../../../protocol/nfs3/constants.js';
import { fsError } from '../../../src/fs/errors.js';
import type { FsStatus } from '../../../src/fs/errors.js';
import { InfoOncePerKey, NfsStatusError, StatusMapper, nfsStatusOf } from '../../../src/nfs/status.js';
import { RecordingLogger } from './harness.js';

const SITE = { procedure: 'WRITE', xid: 7, client: '127.0.0.1' };

test('every file-system status maps to the nfsstat3 of the same name', () => {
  const statuses: FsStatus[] = [
    'NOENT', 'NOTDIR', 'ISDIR', 'EXIST', 'NOTEMPTY', 'ROFS', 'PERM', 'ACCES', 'STALE', 'BADHANDLE', 'NAMETOOLONG',
    'INVAL', 'FBIG', 'NOSPC', 'IO', 'NOTSUPP', 'SERVERFAULT', 'JUKEBOX', 'BAD_COOKIE', 'NOT_SYNC', 'TOOSMALL',
  ];
  const table = NfsStat3 as Record<string, number>;
  for (const s of statuses) {
    const wire = s === 'IO' ? 'NFS3ERR_IO' : `NFS3ERR_${s}`;
    assert.equal(nfsStatusOf(s), table[wire], s);
  }
  assert.equal(new Set(statuses.map(nfsStatusOf)).size, statuses.length, 'no two statuses share a number');
});

test('a refusal is logged at info once per procedure and status, then at debug', () => {
  const logger = new RecordingLogger();
  const mapper = new StatusMapper(logger);
  for (let i = 0; i < 5; i++) assert.equal(mapper.statusFor(fsError('ROFS', 'read-only export'), SITE), NfsStat3.NFS3ERR_ROFS);
  mapper.statusFor(fsError('ROFS', 'read-only export'), { ...SITE, procedure: 'CREATE' });
  assert.equal(logger.at('info').length, 2);
  assert.equal(logger.at('debug').length, 4);
  assert.deepEqual(logger.at('info')[0]!.fields, { procedure: 'WRITE', status: 'ROFS', reason: 'read-only export', xid: 7, client: '127.0.0.1' });
});

test('NOTSUPP from SYMLINK, MKNOD and LINK is PERM (the Linux client shows NOTSUPP as error 524); elsewhere NOTSUPP', () => {
  const mapper = new StatusMapper(new RecordingLogger());
  for (const procedure of ['SYMLINK', 'MKNOD', 'LINK']) {
    assert.equal(mapper.statusFor(fsError('NOTSUPP', 'no'), { ...SITE, procedure }), NfsStat3.NFS3ERR_PERM, procedure);
  }
  assert.equal(mapper.statusFor(fsError('NOTSUPP', 'no'), { ...SITE, procedure: 'SETATTR' }), NfsStat3.NFS3ERR_NOTSUPP);
});

test('ordinary answers (NOENT, STALE, BADHANDLE…) go to debug only', () => {
  const logger = new RecordingLogger();
  const mapper = new StatusMapper(logger);
  assert.equal(mapper.statusFor(fsError('NOENT', 'no x'), SITE), NfsStat3.NFS3ERR_NOENT);
  assert.equal(mapper.statusFor(fsError('STALE', 'gone'), SITE), NfsStat3.NFS3ERR_STALE);
  assert.equal(mapper.statusFor(new NfsStatusError(NfsStat3.NFS3ERR_BADTYPE, 'reg'), SITE), NfsStat3.NFS3ERR_BADTYPE);
  assert.equal(logger.lines.length, 3);
  assert.ok(logger.lines.every((l) => l.level === 'debug'));
});

test('anything else is SERVERFAULT, logged at error with the exception', () => {
  const logger = new RecordingLogger();
  const err = new RangeError('oops');
  assert.equal(new StatusMapper(logger).statusFor(err, SITE), NfsStat3.NFS3ERR_SERVERFAULT);
  assert.equal(logger.at('error').length, 1);
  assert.equal(logger.at('error')[0]!.fields?.['err'], err);
});

test('InfoOncePerKey logs again at info after the interval', () => {
  const logger = new RecordingLogger();
  let now = 0;
  const once = new InfoOncePerKey(logger, 1000, 10, () => now);
  once.log('k', 'm', {});
  now = 999;
  once.log('k', 'm', {});
  now = 1000;
  once.log('k', 'm', {});
  assert.deepEqual(logger.lines.map((l) => l.level), ['info', 'debug', 'info']);
});
