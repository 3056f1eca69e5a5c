import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { XdrError, XdrReader, XdrWriter, decode, encode } from '../../../protocol/xdr.js';
import {
  AcceptStat,
  AuthFlavor,
  AuthStat,
  NULL_AUTH,
  RejectStat,
  ReplyStat,
  authSysCred,
  callHeader,
  parseAuthSys,
  readCallHeader,
  readRpcHeader,
  replyHeader,
  writeAcceptedReply,
  writeDeniedReply,
} from '../../../protocol/rpc.js';
import type { AcceptedReply, RejectedReply, ReplyHeader } from '../../../protocol/rpc.js';

// An NFSv3 GETATTR call as the Linux client sends it: AUTH_SYS uid 0 gid 0 gids [0], machine "uml",
// followed by an 8-byte file handle argument.
const GETATTR_CALL = Buffer.from(
  [
    '8a1b2c3d', // xid
    '00000000', // CALL
    '00000002', // rpcvers
    '000186a3', // NFS
    '00000003', // v3
    '00000001', // GETATTR
    '00000001', // AUTH_SYS
    '0000001c', // body length 28
    '00000000', // stamp
    '00000003', '756d6c00', // "uml"
    '00000000', '00000000', // uid, gid
    '00000001', '00000000', // gids [0]
    '00000000', '00000000', // verifier AUTH_NONE
    '00000008', '0102030405060708', // fhandle3
  ].join(''),
  'hex',
);

test('a call header is read and the reader is left at the arguments', () => {
  const r = new XdrReader(GETATTR_CALL);
  const h = readCallHeader(r);
  assert.equal(h.xid, 0x8a1b2c3d);
  assert.deepEqual([h.rpcvers, h.prog, h.vers, h.proc], [2, 100003, 3, 1]);
  assert.equal(h.verf.flavor, AuthFlavor.AUTH_NONE);
  assert.deepEqual(parseAuthSys(h.cred), { stamp: 0, machinename: 'uml', uid: 0, gid: 0, gids: [0] });
  assert.equal(r.opaqueVar(64).toString('hex'), '0102030405060708');
  assert.equal(r.remaining(), 0);
  // Re-encoding the header reproduces the same bytes.
  const w = new XdrWriter();
  callHeader.encode(w, h);
  assert.deepEqual(w.toBuffer(), GETATTR_CALL.subarray(0, GETATTR_CALL.length - 12));
});

test('malformed call headers throw XdrError', () => {
  // A reply where a call is expected.
  const reply = Buffer.from(GETATTR_CALL);
  reply.writeUInt32BE(1, 4);
  assert.throws(() => readCallHeader(new XdrReader(reply)), XdrError);
  // Credential body longer than 400 bytes.
  const big = Buffer.from(GETATTR_CALL);
  big.writeUInt32BE(401, 28);
  assert.throws(() => readCallHeader(new XdrReader(big)), XdrError);
  // Truncations anywhere in the header.
  for (let n = 0; n < 40 + 16; n++) {
    assert.throws(() => readCallHeader(new XdrReader(GETATTR_CALL.subarray(0, n))), XdrError);
  }
});

test('AUTH_SYS limits: machinename <= 255 bytes and at most 16 gids', () => {
  const ok = { stamp: 1, machinename: 'x'.repeat(255), uid: 1000, gid: 1000, gids: Array.from({ length: 16 }, (_, i) => i) };
  assert.deepEqual(parseAuthSys(authSysCred(ok)), ok);
  assert.throws(() => authSysCred({ ...ok, machinename: 'x'.repeat(256) }), XdrError);
  assert.throws(() => authSysCred({ ...ok, gids: new Array<number>(17).fill(0) }), XdrError);
  assert.throws(() => parseAuthSys(NULL_AUTH), XdrError);
  // Trailing bytes after the parameters are malformed.
  const cred = authSysCred(ok);
  assert.throws(() => parseAuthSys({ flavor: cred.flavor, body: Buffer.concat([cred.body, Buffer.alloc(4)]) }), XdrError);
});

test('reply headers for every accept and reject state, byte for byte', () => {
  const cases: [AcceptedReply | RejectedReply, boolean, string][] = [
    [{ stat: AcceptStat.SUCCESS }, true, '00000000'],
    [{ stat: AcceptStat.PROG_UNAVAIL }, true, '00000001'],
    [{ stat: AcceptStat.PROG_MISMATCH, low: 3, high: 3 }, true, '00000002' + '00000003' + '00000003'],
    [{ stat: AcceptStat.PROC_UNAVAIL }, true, '00000003'],
    [{ stat: AcceptStat.GARBAGE_ARGS }, true, '00000004'],
    [{ stat: AcceptStat.SYSTEM_ERR }, true, '00000005'],
    [{ stat: RejectStat.RPC_MISMATCH, low: 2, high: 2 }, false, '00000000' + '00000002' + '00000002'],
    [{ stat: RejectStat.AUTH_ERROR, authStat: AuthStat.AUTH_TOOWEAK }, false, '00000001' + '00000005'],
  ];
  for (const [body, accepted, tail] of cases) {
    const w = new XdrWriter();
    if (accepted) writeAcceptedReply(w, 7, body as AcceptedReply);
    else writeDeniedReply(w, 7, body as RejectedReply);
    const head = accepted ? '00000007' + '00000001' + '00000000' + '0000000000000000' : '00000007' + '00000001' + '00000001';
    const bytes = w.toBuffer();
    assert.equal(bytes.toString('hex'), head + tail);
    const back = decode(replyHeader, bytes);
    assert.deepEqual(back.replyStat === ReplyStat.MSG_ACCEPTED ? back.accepted : back.rejected, body);
    const any = readRpcHeader(new XdrReader(bytes));
    assert.equal(any.type, 1);
  }
});

test('unknown reply discriminants are rejected', () => {
  for (const hex of [
    '00000001' + '00000001' + '00000002', // reply_stat 2
    '00000001' + '00000001' + '00000001' + '00000002', // reject_stat 2
    '00000001' + '00000001' + '00000000' + '0000000000000000' + '00000006', // accept_stat 6
    '00000001' + '00000001' + '00000001' + '00000001' + '000000ff', // auth_stat 255
    '00000001' + '00000002', // msg_type 2
  ]) {
    assert.throws(() => readRpcHeader(new XdrReader(Buffer.from(hex, 'hex'))), XdrError, hex);
  }
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const auth = fc.record({ flavor: u32, body: fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u)) });

test('property: call headers round-trip', () => {
  fc.assert(
    fc.property(
      fc.record({ xid: u32, rpcvers: u32, prog: u32, vers: u32, proc: u32, cred: auth, verf: auth }),
      (h) => {
        assert.deepEqual(decode(callHeader, encode(callHeader, h)), { ...h, cred: { ...h.cred }, verf: { ...h.verf } });
      },
    ),
  );
});

test('property: reply headers round-trip', () => {
  const accepted: fc.Arbitrary<AcceptedReply> = fc.oneof(
    fc.constantFrom(0, 1, 3, 4, 5).map((stat) => ({ stat }) as AcceptedReply),
    fc.record({ stat: fc.constant(AcceptStat.PROG_MISMATCH), low: u32, high: u32 }),
  );
  const rejected: fc.Arbitrary<RejectedReply> = fc.oneof(
    fc.record({ stat: fc.constant(RejectStat.RPC_MISMATCH), low: u32, high: u32 }),
    fc.record({ stat: fc.constant(RejectStat.AUTH_ERROR), authStat: fc.constantFrom(...Object.values(AuthStat)) }),
  );
  const header: fc.Arbitrary<ReplyHeader> = fc.oneof(
    fc.record({ xid: u32, replyStat: fc.constant(ReplyStat.MSG_ACCEPTED), verf: auth, accepted }),
    fc.record({ xid: u32, replyStat: fc.constant(ReplyStat.MSG_DENIED), rejected }),
  );
  fc.assert(
    fc.property(header, (h) => {
      const bytes = encode(replyHeader, h);
      assert.deepEqual(encode(replyHeader, decode(replyHeader, bytes)), bytes);
      assert.equal(decode(replyHeader, bytes).xid, h.xid);
    }),
  );
});
