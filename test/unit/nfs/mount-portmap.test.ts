// MOUNT v3 and the portmapper over the wire: which paths mount, the handle they give, the
// mount and export lists, GETPORT/DUMP answers, and what is refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MOUNT3, MOUNT_PROGRAM, MOUNT_V3, MountStat3 } from '../../../protocol/mount.js';
import { NFS_PROGRAM, NFS_V3, NfsStat3 } from '../../../protocol/nfs3/constants.js';
import { IPPROTO_TCP, IPPROTO_UDP, PMAP2, PMAP_PROGRAM, PMAP_V2 } from '../../../protocol/portmap.js';
import { AcceptStat, AuthFlavor } from '../../../protocol/rpc.js';
import { exportPath, findExport, normalizeMountPath } from '../../../src/mount/exports.js';
import { P, withHarness } from './harness.js';
import type { Harness } from './harness.js';
import { decodeReply } from './rpc-client.js';

const OBJECTS = { 'photos/2024/a.jpg': 'jpeg', 'photos/2024/sub/b.jpg': 'b', 'photos/top.txt': 't', 'elsewhere/x': 'x' };

function mnt(h: Harness, path: string) {
  return h.client.ok(MOUNT_PROGRAM, MOUNT_V3, MOUNT3.procedures.MNT, path);
}

test('export paths: /bucket or /bucket/prefix; requests match with or without trailing slashes', () => {
  assert.equal(exportPath('b', ''), '/b');
  assert.equal(exportPath('b', 'x/y/'), '/b/x/y');
  assert.equal(normalizeMountPath('/b/x//'), '/b/x');
  assert.equal(normalizeMountPath('/'), '/');
  const fake = { path: '/b/x', fs: undefined as never };
  const deeper = { path: '/b/x/y', fs: undefined as never };
  assert.deepEqual(findExport([fake], '/b/x/'), { export: fake, components: [] });
  assert.deepEqual(findExport([fake], '/b/x/s//t'), { export: fake, components: ['s', 't'] });
  assert.equal(findExport([fake], '/b/xy'), undefined);
  assert.equal(findExport([fake], '/b'), undefined);
  assert.equal(findExport([fake], '/b/x/../other'), undefined, '.. never resolves');
  assert.equal(findExport([fake, deeper], '/b/x/y/z')?.export, deeper, 'the deepest export wins');
});

test('MNT of the export (any trailing slashes) gives the root handle and AUTH_SYS', async () => {
  await withHarness({ objects: OBJECTS, prefix: 'photos/' }, async (h) => {
    assert.equal(h.exportPath, '/bucket/photos');
    for (const path of ['/bucket/photos', '/bucket/photos/', '/bucket/photos//']) {
      const res = await mnt(h, path);
      assert.equal(res.status, MountStat3.MNT3_OK, path);
      assert.deepEqual(res.mountinfo.fhandle, h.root);
      assert.deepEqual(res.mountinfo.authFlavors, [AuthFlavor.AUTH_SYS]);
    }
    const got = await h.client.ok(NFS_PROGRAM, NFS_V3, P.LOOKUP, { what: { dir: h.root, name: 'top.txt' } });
    assert.equal(got.status, NfsStat3.NFS3_OK, 'the root handle names the prefix');
  });
});

test('MNT of a directory inside the export gives its handle; a file is NOTDIR; anything else is NOENT', async () => {
  await withHarness({ objects: OBJECTS, prefix: 'photos/' }, async (h) => {
    const sub = await mnt(h, '/bucket/photos/2024/');
    assert.equal(sub.status, MountStat3.MNT3_OK);
    const inside = await h.client.ok(NFS_PROGRAM, NFS_V3, P.LOOKUP, { what: { dir: sub.mountinfo.fhandle, name: 'a.jpg' } });
    assert.equal(inside.status, NfsStat3.NFS3_OK);

    assert.equal((await mnt(h, '/bucket/photos/top.txt')).status, MountStat3.MNT3ERR_NOTDIR);
    for (const bad of ['/bucket', '/bucket/elsewhere', '/other/photos', '/', '', 'bucket/photos', '/bucket/photos/../elsewhere', '/bucket/photos/missing']) {
      assert.equal((await mnt(h, bad)).status, MountStat3.MNT3ERR_NOENT, `"${bad}"`);
    }
    assert.ok(h.logger.at('info').some((l) => l.message.includes('not exported') && l.fields?.['path'] === '/other/photos'));
  });
});

test('DUMP lists mounts; UMNT and UMNTALL remove them; EXPORT lists the export', async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const p = MOUNT3.procedures;
    assert.deepEqual(await h.client.ok(MOUNT_PROGRAM, MOUNT_V3, p.DUMP, undefined), []);
    await mnt(h, '/bucket/');
    await mnt(h, '/bucket/photos');
    assert.deepEqual(await h.client.ok(MOUNT_PROGRAM, MOUNT_V3, p.DUMP, undefined), [
      { hostname: '127.0.0.1', directory: '/bucket' },
      { hostname: '127.0.0.1', directory: '/bucket/photos' },
    ]);
    await h.client.ok(MOUNT_PROGRAM, MOUNT_V3, p.UMNT, '/bucket');
    assert.deepEqual(await h.client.ok(MOUNT_PROGRAM, MOUNT_V3, p.DUMP, undefined), [{ hostname: '127.0.0.1', directory: '/bucket/photos' }]);
    await h.client.ok(MOUNT_PROGRAM, MOUNT_V3, p.UMNTALL, undefined);
    assert.deepEqual(await h.client.ok(MOUNT_PROGRAM, MOUNT_V3, p.DUMP, undefined), []);
    assert.deepEqual(await h.client.ok(MOUNT_PROGRAM, MOUNT_V3, p.EXPORT, undefined), [{ dir: '/bucket', groups: [] }]);
    const nul = decodeReply(await h.client.rawCall(MOUNT_PROGRAM, MOUNT_V3, 0, Buffer.alloc(0)), p.NULL.res);
    assert.equal(nul.kind, 'ok');
    const v1 = decodeReply(await h.client.rawCall(MOUNT_PROGRAM, 1, 0, Buffer.alloc(0)), p.NULL.res);
    assert.deepEqual(v1, { kind: 'accepted', accepted: { stat: AcceptStat.PROG_MISMATCH, low: 3, high: 3 } });
  });
});

test('portmap GETPORT answers the server port for NFS v3 and MOUNT v3 over TCP, 0 otherwise', async () => {
  await withHarness({}, async (h) => {
    const getport = (prog: number, vers: number, prot = IPPROTO_TCP) =>
      h.client.ok(PMAP_PROGRAM, PMAP_V2, PMAP2.procedures.GETPORT, { prog, vers, prot, port: 0 });
    assert.equal(await getport(NFS_PROGRAM, 3), h.port);
    assert.equal(await getport(MOUNT_PROGRAM, 3), h.port);
    assert.equal(await getport(NFS_PROGRAM, 4), 0);
    assert.equal(await getport(NFS_PROGRAM, 3, IPPROTO_UDP), 0);
    assert.equal(await getport(100021, 4), 0, 'no lock manager');
    assert.equal(await getport(100227, 3), 0, 'no NFSACL');
  });
});

test('portmap DUMP lists the programs; SET and UNSET are refused; CALLIT is PROC_UNAVAIL', async () => {
  await withHarness({}, async (h) => {
    const p = PMAP2.procedures;
    const dump = await h.client.ok(PMAP_PROGRAM, PMAP_V2, p.DUMP, undefined);
    assert.deepEqual(dump, [
      { prog: NFS_PROGRAM, vers: 3, prot: IPPROTO_TCP, port: h.port },
      { prog: MOUNT_PROGRAM, vers: 3, prot: IPPROTO_TCP, port: h.port },
      { prog: PMAP_PROGRAM, vers: 2, prot: IPPROTO_TCP, port: h.port },
    ]);
    const mapping = { prog: 100021, vers: 4, prot: IPPROTO_TCP, port: 4045 };
    assert.equal(await h.client.ok(PMAP_PROGRAM, PMAP_V2, p.SET, mapping), false);
    assert.equal(await h.client.ok(PMAP_PROGRAM, PMAP_V2, p.UNSET, mapping), false);
    assert.equal(await h.client.ok(PMAP_PROGRAM, PMAP_V2, p.GETPORT, mapping), 0, 'SET changed nothing');
    const callit = await h.client.call(PMAP_PROGRAM, PMAP_V2, p.CALLIT, { prog: NFS_PROGRAM, vers: 3, proc: 0, args: Buffer.alloc(0) });
    assert.deepEqual(callit, { kind: 'accepted', accepted: { stat: AcceptStat.PROC_UNAVAIL } });
  });
});
