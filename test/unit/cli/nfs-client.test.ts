// What `s3nfs mount` checks before it starts anything: a kernel NFS client (loading the module if
// it can), mount.nfs, and what is mounted where; and where --log-directory writes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { logFileName, setUpLog } from '../../../src/cli/log-setup.js';
import { isMountPoint, listsNfs, mountOptionsFor, nfsClientProblem, nfsMountAt, parseMounts } from '../../../src/cli/nfs-client.js';

const WITHOUT = 'nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tfuse\n';
const WITH = `${WITHOUT}nodev\tnfs\nnodev\tnfs4\n`;

test('/proc/filesystems lists the NFS client or not', () => {
  assert.equal(listsNfs(WITHOUT), false);
  assert.equal(listsNfs(WITH), true);
  assert.equal(listsNfs('nodev\tnfsd\n'), false, 'the NFS server is not the client');
});

test('no NFS client: one sentence naming the cause, after trying to load the module', () => {
  let loads = 0;
  const problem = nfsClientProblem({
    filesystems: () => WITHOUT,
    loadModule: () => {
      loads++;
      return 'modprobe: FATAL: Module nfs not found';
    },
    haveHelper: () => true,
  });
  assert.equal(loads, 1);
  assert.ok(problem);
  assert.equal(problem.includes('\n'), false);
  assert.match(problem, /^this kernel has no NFS client \("nfs" is not in \/proc\/filesystems and "modprobe nfs" failed: modprobe: FATAL: Module nfs not found\), so s3nfs cannot mount here; run "s3nfs serve"/);
});

test('a module that loads fixes it; a missing mount.nfs is named with its package', () => {
  let loaded = false;
  assert.equal(
    nfsClientProblem({
      filesystems: () => (loaded ? WITH : WITHOUT),
      loadModule: () => {
        loaded = true;
        return undefined;
      },
      haveHelper: () => true,
    }),
    undefined,
  );
  assert.match(nfsClientProblem({ filesystems: () => WITH, haveHelper: () => false }) ?? '', /mount\.nfs is not installed.*nfs-common/);
});

test('mounts: who is mounted where; NFS at a directory; the no-portmapper mount options', () => {
  const mounts = parseMounts('proc /proc proc rw 0 0\n127.0.0.1:/b /mnt/b nfs rw,vers=3 0 0\nx /mnt/b tmpfs rw 0 0\n');
  assert.equal(isMountPoint('/mnt/b', mounts), true);
  assert.equal(isMountPoint('/mnt', mounts), false);
  assert.equal(nfsMountAt('/mnt/b', mounts)?.device, '127.0.0.1:/b');
  assert.equal(nfsMountAt('/proc', mounts), undefined);
  assert.equal(mountOptionsFor(2050, false), 'vers=3,proto=tcp,port=2050,mountport=2050,mountproto=tcp,nolock');
  assert.equal(mountOptionsFor(2050, true), 'vers=3,proto=tcp,port=2050,mountport=2050,mountproto=tcp,nolock,ro');
});

test('--log-directory: a new file per start, named by time and pid, lines appended', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 's3nfs-logdir-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.equal(logFileName(new Date('2026-02-03T04:05:06.789Z'), 42), 's3nfs-2026-02-03T04-05-06-789Z-42.log');
  const logDir = path.join(dir, 'nested', 'logs');
  const setup = setUpLog({ level: 'info', format: 'logfmt', directory: logDir, now: () => new Date('2026-02-03T04:05:06.789Z') });
  setup.log.info('hello', { err: new Error('boom') });
  setup.log.debug('not at info level');
  setup.close();
  setup.log.info('after close is dropped');
  assert.deepEqual(await readdir(logDir), [logFileName(new Date('2026-02-03T04:05:06.789Z'), process.pid)]);
  const text = await readFile(setup.file ?? '', 'utf8');
  assert.match(text, /^time=\S+ level=info msg=hello err="Error: boom"\n$/);
});
