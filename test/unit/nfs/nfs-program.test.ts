// The NFSv3 program over a real RPC connection, backed by an S3FileSystem on an in-memory bucket:
// attributes, lookups, reads, access checks, handle errors, refused changes with the right
// failure arms, and faults that must not take the server down.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Access3, CreateMode3, Ftype3, NFS_PROGRAM, NFS_V3, Nfs3Proc, NfsStat3, TimeHow } from '../../../protocol/nfs3/constants.js';
import { emptySattr3 } from '../../../protocol/nfs3/attributes.js';
import { NFSACL_PROGRAM, NFSACL_V3 } from '../../../protocol/nfsacl.js';
import { AcceptStat, AuthFlavor, NULL_AUTH } from '../../../protocol/rpc.js';
import { XdrReader, XdrWriter } from '../../../protocol/xdr.js';
import { encodeFileHandle, exportIdFor } from '../../../src/fs/file-handle.js';
import { S3FileSystem } from '../../../src/fs/file-system.js';
import type { ReadReply } from '../../../src/fs/file-system.js';
import { nfsProgram } from '../../../src/nfs/program.js';
import type { CallContext } from '../../../src/server/index.js';
import { BUCKET, P, RecordingLogger, lookupPath, nfs, withHarness } from './harness.js';
import { decodeReply, userCred } from './rpc-client.js';

const OBJECTS = {
  'hello.txt': 'hello, world\n',
  'dir/a.txt': 'aaaa',
  'dir/sub/deep.bin': Buffer.alloc(3000, 7),
};

function statusOf(res: { status: number }): number {
  return res.status;
}

test('NULL answers, every NFSv3 procedure (0-21) is served, 22 is PROC_UNAVAIL', async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const nul = await h.client.rawCall(NFS_PROGRAM, NFS_V3, 0, Buffer.alloc(0));
    assert.equal(decodeReply(nul, P.NULL.res).kind, 'ok');
    for (let proc = 1; proc <= 21; proc++) {
      // Empty arguments: every real procedure has some, so a served one answers GARBAGE_ARGS.
      const out = decodeReply(await h.client.rawCall(NFS_PROGRAM, NFS_V3, proc, Buffer.alloc(0)), P.NULL.res);
      assert.deepEqual(out, { kind: 'accepted', accepted: { stat: AcceptStat.GARBAGE_ARGS } }, `procedure ${proc}`);
    }
    const out = decodeReply(await h.client.rawCall(NFS_PROGRAM, NFS_V3, 22, Buffer.alloc(0)), P.NULL.res);
    assert.deepEqual(out, { kind: 'accepted', accepted: { stat: AcceptStat.PROC_UNAVAIL } });
  });
});

test('NFSACL is not registered (PROG_UNAVAIL), and NFS versions 2 and 4 get PROG_MISMATCH 3..3', async () => {
  await withHarness({}, async (h) => {
    const acl = decodeReply(await h.client.rawCall(NFSACL_PROGRAM, NFSACL_V3, 0, Buffer.alloc(0)), P.NULL.res);
    assert.deepEqual(acl, { kind: 'accepted', accepted: { stat: AcceptStat.PROG_UNAVAIL } });
    for (const vers of [2, 4]) {
      const out = decodeReply(await h.client.rawCall(NFS_PROGRAM, vers, 0, Buffer.alloc(0)), P.NULL.res);
      assert.deepEqual(out, { kind: 'accepted', accepted: { stat: AcceptStat.PROG_MISMATCH, low: 3, high: 3 } });
    }
  });
});

test('GETATTR of the root and LOOKUP of a file and a directory give fattr3 from S3 and the options', async () => {
  await withHarness({ objects: OBJECTS, fsOptions: { ownership: { uid: 1000, gid: 100, fileMode: 0o640, dirMode: 0o750 } } }, async (h) => {
    const root = await nfs(h, P.GETATTR, { object: h.root });
    assert.equal(root.status, NfsStat3.NFS3_OK);
    assert.ok(root.status === NfsStat3.NFS3_OK);
    assert.equal(root.resok.objAttributes.type, Ftype3.NF3DIR);
    assert.equal(root.resok.objAttributes.fileid, h.fs.rootId);
    assert.equal(root.resok.objAttributes.mode, 0o750);
    assert.equal(root.resok.objAttributes.fsid, BigInt(h.fs.exportId));

    const file = await nfs(h, P.LOOKUP, { what: { dir: h.root, name: 'hello.txt' } });
    assert.ok(file.status === NfsStat3.NFS3_OK);
    const fattr = file.resok.objAttributes;
    assert.ok(fattr);
    assert.equal(fattr.type, Ftype3.NF3REG);
    assert.equal(fattr.size, 13n);
    assert.equal(fattr.mode, 0o640);
    assert.equal(fattr.uid, 1000);
    assert.equal(fattr.gid, 100);
    assert.equal(fattr.nlink, 1);
    assert.deepEqual(fattr.mtime, { seconds: Date.parse('2024-01-02T03:04:05Z') / 1000, nseconds: 0 });
    assert.equal(file.resok.dirAttributes?.type, Ftype3.NF3DIR, 'LOOKUP returns the directory attributes');

    const again = await nfs(h, P.GETATTR, { object: file.resok.object });
    assert.ok(again.status === NfsStat3.NFS3_OK);
    assert.deepEqual(again.resok.objAttributes, fattr);

    const dir = await nfs(h, P.LOOKUP, { what: { dir: h.root, name: 'dir' } });
    assert.ok(dir.status === NfsStat3.NFS3_OK);
    assert.equal(dir.resok.objAttributes?.type, Ftype3.NF3DIR);
  });
});

test('LOOKUP of a missing name is NOENT with the directory attributes; in a file it is NOTDIR', async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const missing = await nfs(h, P.LOOKUP, { what: { dir: h.root, name: 'nope' } });
    assert.equal(missing.status, NfsStat3.NFS3ERR_NOENT);
    assert.equal(missing.resfail.dirAttributes?.fileid, h.fs.rootId);

    const file = await lookupPath(h, 'hello.txt');
    const inFile = await nfs(h, P.LOOKUP, { what: { dir: file, name: 'x' } });
    assert.equal(inFile.status, NfsStat3.NFS3ERR_NOTDIR);
    assert.equal(h.logger.at('error').length, 0);
  });
});

test('READ returns the bytes, count and eof; a READ of a directory is ISDIR with attributes', async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const fh = await lookupPath(h, 'dir/sub/deep.bin');
    const all = await nfs(h, P.READ, { file: fh, offset: 0n, count: 4096 });
    assert.ok(all.status === NfsStat3.NFS3_OK);
    assert.equal(all.resok.count, 3000);
    assert.equal(all.resok.eof, true);
    assert.deepEqual(all.resok.data, Buffer.alloc(3000, 7));
    assert.equal(all.resok.fileAttributes?.size, 3000n);

    const part = await nfs(h, P.READ, { file: await lookupPath(h, 'hello.txt'), offset: 7n, count: 3 });
    assert.ok(part.status === NfsStat3.NFS3_OK);
    assert.equal(part.resok.data.toString(), 'wor');
    assert.equal(part.resok.eof, false);

    const past = await nfs(h, P.READ, { file: fh, offset: 1n << 60n, count: 10 });
    assert.ok(past.status === NfsStat3.NFS3_OK);
    assert.equal(past.resok.count, 0);
    assert.equal(past.resok.eof, true);

    const dir = await nfs(h, P.READ, { file: await lookupPath(h, 'dir'), offset: 0n, count: 10 });
    assert.equal(dir.status, NfsStat3.NFS3ERR_ISDIR);
    assert.equal(dir.resfail.fileAttributes?.type, Ftype3.NF3DIR);
  });
});

test('READ puts the file system buffer into the reply as-is (no copy)', async () => {
  const payload = Buffer.alloc(64 * 1024, 0x5a);
  class FixedRead extends S3FileSystem {
    override async read(id: bigint): Promise<ReadReply> {
      return { data: payload, eof: true, attributes: await this.getattr(id) };
    }
  }
  await withHarness({ objects: { f: 'x' }, makeFs: (o) => new FixedRead(o) }, async (h) => {
    const program = nfsProgram({ fs: h.fs, logger: new RecordingLogger() });
    const w = new XdrWriter();
    P.READ.args.encode(w, { file: await lookupPath(h, 'f'), offset: 0n, count: payload.length });
    const call = program.versions[NFS_V3]![Nfs3Proc.READ]!.decodeArgs(new XdrReader(w.toBuffer()));
    const ctx: CallContext = {
      xid: 1,
      program: NFS_PROGRAM,
      version: NFS_V3,
      procedure: Nfs3Proc.READ,
      client: { address: '127.0.0.1', port: 700 },
      connectionId: 1,
      cred: { flavor: AuthFlavor.AUTH_NONE },
    };
    const out = new XdrWriter();
    (await call.run(ctx))(out);
    assert.ok(
      out.toBuffers().some((b) => b === payload),
      'the READ payload is one of the buffers handed to writev, by identity',
    );
  });
});

test('ACCESS checks the AUTH_SYS caller against the mode bits; AUTH_NONE is nobody', async () => {
  await withHarness({ objects: OBJECTS, fsOptions: { ownership: { uid: 1000, gid: 100, fileMode: 0o640, dirMode: 0o750 }, readOnly: true } }, async (h) => {
    const fh = await lookupPath(h, 'hello.txt');
    const all = Access3.READ | Access3.MODIFY | Access3.EXTEND | Access3.EXECUTE;
    const owner = await nfs(h, P.ACCESS, { object: fh, access: all }, userCred(1000, 100));
    assert.ok(owner.status === NfsStat3.NFS3_OK);
    assert.equal(owner.resok.access, Access3.READ, 'owner reads; a read-only export grants no modify');
    assert.equal(owner.resok.objAttributes?.fileid !== undefined, true);

    const group = await nfs(h, P.ACCESS, { object: fh, access: all }, userCred(2000, 5, [100]));
    assert.ok(group.status === NfsStat3.NFS3_OK);
    assert.equal(group.resok.access, Access3.READ, 'a supplementary group counts');

    const other = await nfs(h, P.ACCESS, { object: fh, access: all }, userCred(2000, 5));
    assert.ok(other.status === NfsStat3.NFS3_OK);
    assert.equal(other.resok.access, 0);

    const anonymous = await h.client.ok(NFS_PROGRAM, NFS_V3, P.ACCESS, { object: fh, access: all }, NULL_AUTH);
    assert.ok(anonymous.status === NfsStat3.NFS3_OK);
    assert.equal(anonymous.resok.access, 0);
  });
});

test('a handle that is not ours is BADHANDLE; one for an unknown file id is STALE', async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const garbage = await nfs(h, P.GETATTR, { object: Buffer.from('not a handle') });
    assert.equal(statusOf(garbage), NfsStat3.NFS3ERR_BADHANDLE);
    const empty = await nfs(h, P.LOOKUP, { what: { dir: Buffer.alloc(0), name: 'x' } });
    assert.equal(empty.status, NfsStat3.NFS3ERR_BADHANDLE);

    const unknownId = encodeFileHandle({ exportId: exportIdFor(BUCKET, ''), fileId: 987654n, generation: h.handles.generation });
    assert.equal(statusOf(await nfs(h, P.GETATTR, { object: unknownId })), NfsStat3.NFS3ERR_STALE);
    const otherExport = encodeFileHandle({ exportId: exportIdFor('other', ''), fileId: 1n, generation: 0 });
    assert.equal(statusOf(await nfs(h, P.READ, { file: otherExport, offset: 0n, count: 1 })), NfsStat3.NFS3ERR_STALE);

    // A file deleted in S3 after it was looked up.
    const fh = await lookupPath(h, 'hello.txt');
    await h.memory.delete('hello.txt');
    assert.equal(statusOf(await nfs(h, P.GETATTR, { object: fh })), NfsStat3.NFS3ERR_STALE);
  });
});

test('changes on a read-only file system are ROFS with wcc data, logged once at info', async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const file = await lookupPath(h, 'hello.txt');
    const dir = h.root;
    const sattr = { ...emptySattr3(), mode: 0o644 };

    const create = await nfs(h, P.CREATE, { where: { dir, name: 'new' }, how: { mode: CreateMode3.UNCHECKED, objAttributes: sattr } });
    assert.equal(create.status, NfsStat3.NFS3ERR_ROFS);
    assert.equal(create.resfail.dirWcc.after?.fileid, h.fs.rootId, 'the failure arm carries the directory after-attributes');
    assert.ok(create.resfail.dirWcc.before, 'and its before-attributes');

    const write = await nfs(h, P.WRITE, { file, offset: 0n, count: 2, stable: 2, data: Buffer.from('hi') });
    assert.equal(write.status, NfsStat3.NFS3ERR_ROFS);
    assert.equal(write.resfail.fileWcc.after?.size, 13n);

    const setattr = await nfs(h, P.SETATTR, {
      object: file,
      newAttributes: { ...emptySattr3(), size: 0n, mtime: { how: TimeHow.SET_TO_SERVER_TIME } },
      guard: undefined,
    });
    assert.equal(setattr.status, NfsStat3.NFS3ERR_ROFS);
    assert.equal(setattr.resfail.objWcc.before?.size, 13n);

    const exclusive = await nfs(h, P.CREATE, { where: { dir, name: 'x' }, how: { mode: CreateMode3.EXCLUSIVE, verf: Buffer.alloc(8, 1) } });
    assert.equal(exclusive.status, NfsStat3.NFS3ERR_ROFS);
    assert.equal((await nfs(h, P.MKDIR, { where: { dir, name: 'd' }, attributes: sattr })).status, NfsStat3.NFS3ERR_ROFS);
    assert.equal((await nfs(h, P.REMOVE, { object: { dir, name: 'hello.txt' } })).status, NfsStat3.NFS3ERR_ROFS);
    assert.equal((await nfs(h, P.RMDIR, { object: { dir, name: 'dir' } })).status, NfsStat3.NFS3ERR_ROFS);
    const rename = await nfs(h, P.RENAME, { from: { dir, name: 'hello.txt' }, to: { dir, name: 'moved' } });
    assert.equal(rename.status, NfsStat3.NFS3ERR_ROFS);
    assert.equal(rename.resfail.todirWcc.after?.fileid, h.fs.rootId);
    assert.equal((await nfs(h, P.COMMIT, { file, offset: 0n, count: 0 })).status, NfsStat3.NFS3ERR_ROFS);

    const rofsInfo = h.logger.at('info').filter((l) => l.fields?.['status'] === 'ROFS');
    assert.deepEqual(
      rofsInfo.map((l) => l.fields?.['procedure']).sort(),
      ['COMMIT', 'CREATE', 'MKDIR', 'REMOVE', 'RENAME', 'RMDIR', 'SETATTR', 'WRITE'],
      'one info line per procedure; the second CREATE went to debug',
    );
    assert.ok(rofsInfo.every((l) => typeof l.fields?.['reason'] === 'string' && (l.fields['reason'] as string).includes('read-only')));
  });
});

// On a writable export these are PERM (what vfat answers): docs/semantics.md's checked table covers that.
test('on a read-only export symlinks, hard links and device nodes are ROFS; MKNOD of a regular file is BADTYPE; READLINK is INVAL', async () => {
  await withHarness({ objects: OBJECTS }, async (h) => {
    const dir = h.root;
    const file = await lookupPath(h, 'hello.txt');
    const symlink = await nfs(h, P.SYMLINK, { where: { dir, name: 'l' }, symlink: { symlinkAttributes: emptySattr3(), symlinkData: 'hello.txt' } });
    assert.equal(symlink.status, NfsStat3.NFS3ERR_ROFS);
    const link = await nfs(h, P.LINK, { file, link: { dir, name: 'hard' } });
    assert.equal(link.status, NfsStat3.NFS3ERR_ROFS);
    assert.equal(link.resfail.fileAttributes?.size, 13n);
    const fifo = await nfs(h, P.MKNOD, { where: { dir, name: 'p' }, what: { type: Ftype3.NF3FIFO, pipeAttributes: emptySattr3() } });
    assert.equal(fifo.status, NfsStat3.NFS3ERR_ROFS);
    assert.ok(h.logger.at('info').some((l) => l.fields?.['procedure'] === 'SYMLINK' && l.fields['status'] === 'ROFS'), 'the reason is logged');
    const reg = await nfs(h, P.MKNOD, { where: { dir, name: 'r' }, what: { type: Ftype3.NF3REG } });
    assert.equal(reg.status, NfsStat3.NFS3ERR_BADTYPE);
    const readlink = await nfs(h, P.READLINK, { symlink: file });
    assert.equal(readlink.status, NfsStat3.NFS3ERR_INVAL);
  });
});

test('FSINFO, PATHCONF and FSSTAT report the file system limits', async () => {
  await withHarness({}, async (h) => {
    const info = await nfs(h, P.FSINFO, { fsroot: h.root });
    assert.ok(info.status === NfsStat3.NFS3_OK);
    assert.equal(info.resok.rtmax, 1024 * 1024);
    assert.equal(info.resok.wtmax, 1024 * 1024);
    assert.equal(info.resok.maxfilesize, 5n * 1024n ** 4n);
    assert.equal(info.resok.properties & 0x18, 0x18, 'HOMOGENEOUS and CANSETTIME');
    assert.equal(info.resok.properties & 0x3, 0, 'no LINK or SYMLINK');
    const conf = await nfs(h, P.PATHCONF, { object: h.root });
    assert.ok(conf.status === NfsStat3.NFS3_OK);
    assert.equal(conf.resok.nameMax, 255);
    assert.equal(conf.resok.noTrunc, true);
    const stat = await nfs(h, P.FSSTAT, { fsroot: h.root });
    assert.ok(stat.status === NfsStat3.NFS3_OK);
    assert.ok(stat.resok.abytes > 0n);
  });
});

test('an unexpected exception becomes SERVERFAULT, is logged, and the server keeps serving', async () => {
  class Broken extends S3FileSystem {
    override async getattr(id: bigint) {
      if (id !== this.rootId) throw new TypeError('bug in getattr');
      return super.getattr(id);
    }
  }
  await withHarness({ objects: OBJECTS, makeFs: (o) => new Broken(o) }, async (h) => {
    const res = await nfs(h, P.GETATTR, { object: await lookupPath(h, 'hello.txt') });
    assert.equal(res.status, NfsStat3.NFS3ERR_SERVERFAULT);
    const errors = h.logger.at('error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.fields?.['procedure'], 'GETATTR');
    assert.ok(errors[0]!.fields?.['err'] instanceof TypeError);
    const root = await nfs(h, P.GETATTR, { object: h.root });
    assert.equal(root.status, NfsStat3.NFS3_OK, 'the same connection still works');
  });
});
