import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdrError, decode, encode } from '../../../protocol/xdr.js';
import type { Infer } from '../../../protocol/xdr.js';
import { MOUNT3, MountStat3 } from '../../../protocol/mount.js';
import type { Mountres3 } from '../../../protocol/mount.js';
import { IPPROTO_TCP, PMAP2 } from '../../../protocol/portmap.js';
import { RPCB3, RPCB4 } from '../../../protocol/rpcbind.js';
import { NFSACL3 } from '../../../protocol/nfsacl.js';
import { KNOWN_PROCEDURES, decodeMessage, encodeMessage } from '../../../protocol/programs.js';
import { AcceptStat, AuthFlavor, MsgType, ReplyStat, writeAcceptedReply, writeCallHeader } from '../../../protocol/rpc.js';
import { XdrWriter } from '../../../protocol/xdr.js';
import { plain } from './arbitraries.js';

test('MNT reply: the root handle and the auth flavors, or a status alone', () => {
  const res = MOUNT3.procedures.MNT.res;
  const ok: Mountres3 = { status: MountStat3.MNT3_OK, mountinfo: { fhandle: Buffer.from('0102030405060708', 'hex'), authFlavors: [AuthFlavor.AUTH_SYS] } };
  assert.equal(encode(res, ok).toString('hex'), '00000000' + '00000008' + '0102030405060708' + '00000001' + '00000001');
  assert.deepEqual(plain(decode(res, encode(res, ok))), plain(ok));
  assert.equal(encode(res, { status: MountStat3.MNT3ERR_ACCES }).toString('hex'), '0000000d');
  assert.throws(() => decode(res, Buffer.from('00000004', 'hex')), XdrError); // not a mountstat3
  // The export path is bounded by MNTPATHLEN.
  assert.throws(() => encode(MOUNT3.procedures.MNT.args, '/'.repeat(1025)), XdrError);
});

test('EXPORT reply: nested linked lists of exports and groups', () => {
  const res = MOUNT3.procedures.EXPORT.res;
  const v = [
    { dir: '/bucket', groups: ['*'] },
    { dir: '/b/p', groups: [] },
  ];
  assert.equal(
    encode(res, v).toString('hex'),
    [
      '00000001', '00000007', '2f6275636b657400', // dir "/bucket"
      '00000001', '00000001', '2a000000', '00000000', // groups: "*"
      '00000001', '00000004', '2f622f70', '00000000', // dir "/b/p", no groups
      '00000000',
    ].join(''),
  );
  assert.deepEqual(plain(decode(res, encode(res, v))), v);
});

test('portmap GETPORT and DUMP', () => {
  const m = { prog: 100005, vers: 3, prot: IPPROTO_TCP, port: 0 };
  assert.equal(encode(PMAP2.procedures.GETPORT.args, m).toString('hex'), '000186a5' + '00000003' + '00000006' + '00000000');
  assert.equal(decode(PMAP2.procedures.GETPORT.res, Buffer.from('00000801', 'hex')), 2049);
  const dump = [m, { ...m, port: 20048 }];
  assert.deepEqual(plain(decode(PMAP2.procedures.DUMP.res, encode(PMAP2.procedures.DUMP.res, dump))), dump);
});

test('rpcbind GETADDR uses universal addresses', () => {
  const args = { prog: 100003, vers: 3, netid: 'tcp', addr: '', owner: '' };
  assert.equal(
    encode(RPCB4.procedures.GETADDR.args, args).toString('hex'),
    '000186a3' + '00000003' + '00000003' + '74637000' + '00000000' + '00000000',
  );
  assert.equal(decode(RPCB3.procedures.GETADDR.res, encode(RPCB3.procedures.GETADDR.res, '127.0.0.1.8.1')), '127.0.0.1.8.1');
});

test('NFSACL GETACL as the Linux client asks and a server answers', () => {
  const args = { fh: Buffer.from('aabbccdd', 'hex'), mask: 3 };
  assert.equal(encode(NFSACL3.procedures.GETACL.args, args).toString('hex'), '00000004aabbccdd00000003');
  const res: Infer<typeof NFSACL3.procedures.GETACL.res> = {
    status: 0,
    resok: { attr: undefined, mask: 3, acl: { count: 0, entries: [] }, dfacl: { count: 0, entries: [] } },
  };
  assert.equal(encode(NFSACL3.procedures.GETACL.res, res).toString('hex'), '00000000' + '00000000' + '00000003' + '00000000'.repeat(4));
});

test('whole messages decode by (prog, vers, proc), and unknown programs are reported as such', () => {
  const w = new XdrWriter();
  writeCallHeader(w, { xid: 9, rpcvers: 2, prog: 100005, vers: 3, proc: 1, cred: { flavor: 0, body: Buffer.alloc(0) }, verf: { flavor: 0, body: Buffer.alloc(0) } });
  MOUNT3.procedures.MNT.args.encode(w, '/bucket');
  const call = w.toBuffer();
  const m = decodeMessage(call);
  assert.ok(m && m.header.type === MsgType.CALL);
  assert.equal(m.body, '/bucket');
  assert.deepEqual(encodeMessage(m), call);

  const unknown = Buffer.from(call);
  unknown.writeUInt32BE(100021, 12); // NLM is not known to protocol/
  assert.equal(decodeMessage(unknown), undefined);

  // A reply needs the call's procedure; one that is not SUCCESS has no body at all.
  const r = new XdrWriter();
  writeAcceptedReply(r, 9, { stat: AcceptStat.PROG_MISMATCH, low: 3, high: 3 });
  const mismatch = decodeMessage(r.toBuffer(), { prog: 100003, vers: 4, proc: 1 });
  assert.ok(mismatch && mismatch.header.type === MsgType.REPLY && mismatch.header.reply.replyStat === ReplyStat.MSG_ACCEPTED);
  assert.equal(mismatch.body, undefined);
  assert.throws(() => decodeMessage(Buffer.concat([r.toBuffer(), Buffer.alloc(4)]), { prog: 100003, vers: 4, proc: 1 }), XdrError);

  assert.ok(KNOWN_PROCEDURES.find(100000, 2, 3));
  assert.ok(KNOWN_PROCEDURES.find(100000, 4, 12));
  assert.equal(KNOWN_PROCEDURES.find(100003, 4, 1), undefined);
});
