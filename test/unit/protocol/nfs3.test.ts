import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { XdrError, XdrReader, XdrWriter, decode, encode, optional, struct, uint32, uint64 } from '../../../protocol/xdr.js';
import type { Codec } from '../../../protocol/xdr.js';
import {
  CreateMode3,
  FATTR3_SIZE,
  Ftype3,
  NFS3,
  NfsStat3,
  StableHow,
  TimeHow,
  create3Args,
  emptySattr3,
  entry3,
  entry3Size,
  entryplus3,
  entryplus3Size,
  fattr3,
  nfs3Program,
  nfstime3,
  readdir3Res,
  readdirResOkBaseSize,
  readdirplus3Res,
  specdata3,
} from '../../../protocol/nfs3/index.js';
import type { Fattr3, Getattr3Res, Read3Res, Write3Args } from '../../../protocol/nfs3/index.js';
import { fattr, fh, filename, plain, postOpAttr, postOpFh, u64 } from './arbitraries.js';


const SAMPLE_ATTR: Fattr3 = {
  type: Ftype3.NF3REG,
  mode: 0o644,
  nlink: 1,
  uid: 1000,
  gid: 100,
  size: 5n,
  used: 4096n,
  rdev: { specdata1: 0, specdata2: 0 },
  fsid: 0x0102030405060708n,
  fileid: 42n,
  atime: { seconds: 1700000000, nseconds: 1 },
  mtime: { seconds: 1700000001, nseconds: 2 },
  ctime: { seconds: 1700000002, nseconds: 3 },
};

test('fattr3 is 84 bytes laid out as RFC 1813 declares it', () => {
  const bytes = encode(fattr3, SAMPLE_ATTR);
  assert.equal(bytes.length, FATTR3_SIZE);
  assert.equal(
    bytes.toString('hex'),
    [
      '00000001', '000001a4', '00000001', '000003e8', '00000064', // type mode nlink uid gid
      '0000000000000005', '0000000000001000', // size used
      '00000000', '00000000', // rdev
      '0102030405060708', '000000000000002a', // fsid fileid
      '6553f100', '00000001', '6553f101', '00000002', '6553f102', '00000003', // atime mtime ctime
    ].join(''),
  );
  assert.deepEqual(decode(fattr3, bytes), SAMPLE_ATTR);
});

test('property: the hand-written fattr3 codec agrees with the combinator declaration', () => {
  // The same structure declared field by field: the specialized codec must be byte-identical.
  const generic = struct({
    type: uint32,
    mode: uint32,
    nlink: uint32,
    uid: uint32,
    gid: uint32,
    size: uint64,
    used: uint64,
    rdev: specdata3,
    fsid: uint64,
    fileid: uint64,
    atime: nfstime3,
    mtime: nfstime3,
    ctime: nfstime3,
  });
  fc.assert(
    fc.property(fattr, fc.integer({ min: 0, max: 4000 }), (a, pad) => {
      // Written after `pad` other bytes so the reservation sometimes crosses a writer chunk.
      const w = new XdrWriter(64);
      for (let i = 0; i < pad; i += 4) w.uint32(i);
      fattr3.encode(w, a);
      const bytes = w.toBuffer().subarray(Math.ceil(pad / 4) * 4);
      assert.deepEqual(bytes, encode(generic, a));
      assert.deepEqual(plain(decode(fattr3, bytes)), plain(a));
    }),
  );
});

test('fattr3 rejects an unknown file type and short input', () => {
  const bytes = encode(fattr3, SAMPLE_ATTR);
  for (const t of [0, 8, 0xffffffff]) {
    const bad = Buffer.from(bytes);
    bad.writeUInt32BE(t, 0);
    assert.throws(() => decode(fattr3, bad), XdrError);
  }
  assert.throws(() => decode(fattr3, bytes.subarray(0, 83)), XdrError);
});

test('WRITE data is a view of the input, not a copy', () => {
  const data = Buffer.alloc(100_000, 0xab);
  const args: Write3Args = { file: Buffer.from('handle01'), offset: 8192n, count: data.length, stable: StableHow.UNSTABLE, data };
  const wire = encode(NFS3.procedures.WRITE.args, args);
  const decoded = decode(NFS3.procedures.WRITE.args, wire);
  assert.equal(decoded.data.buffer, wire.buffer, 'shares the input memory');
  assert.equal(decoded.data.byteOffset, wire.byteOffset + 4 + 8 + 8 + 4 + 4 + 4);
  assert.equal(decoded.data.length, data.length);
  assert.deepEqual(decoded.data, data);
});

test('READ data is written by reference and decoded as a view', () => {
  const data = Buffer.alloc(64 * 1024, 0xcd);
  const res: Read3Res = {
    status: NfsStat3.NFS3_OK,
    resok: { fileAttributes: SAMPLE_ATTR, count: data.length, eof: false, data },
  };
  const w = new XdrWriter();
  NFS3.procedures.READ.res.encode(w, res);
  assert.ok(w.toBuffers().includes(data), 'the payload itself is one of the output buffers');
  const wire = w.toBuffer();
  const back = decode(NFS3.procedures.READ.res, wire);
  assert.equal(back.status, NfsStat3.NFS3_OK);
  if (back.status === NfsStat3.NFS3_OK) {
    assert.equal(back.resok.data.buffer, wire.buffer);
    assert.equal(back.resok.data.length, data.length);
  }
});

test('WRITE count must match the data, and the data is bounded before it is read', () => {
  const args: Write3Args = { file: Buffer.alloc(8), offset: 0n, count: 4, stable: StableHow.FILE_SYNC, data: Buffer.from('abcd') };
  const wire = encode(NFS3.procedures.WRITE.args, args);
  const lying = Buffer.from(wire);
  lying.writeUInt32BE(5, 4 + 8 + 8); // count field
  assert.throws(() => decode(NFS3.procedures.WRITE.args, lying), XdrError);

  // A configured limit: a 4 KiB server rejects a 4097-byte WRITE by its length word alone.
  const small = nfs3Program({ maxWriteData: 4096 });
  const big = encode(NFS3.procedures.WRITE.args, { ...args, count: 4097, data: Buffer.alloc(4097) });
  assert.throws(() => decode(small.procedures.WRITE.args, big), (e) => e instanceof XdrError && e.kind === 'limit');
  // The default limit (1 MiB + slack) and a huge claimed length on a short buffer.
  const huge = Buffer.from(wire);
  huge.writeUInt32BE(0x7fffffff, 4 + 8 + 8 + 4 + 4);
  assert.throws(() => decode(NFS3.procedures.WRITE.args, huge), (e) => e instanceof XdrError && e.kind === 'limit');
  const justOver = Buffer.from(wire);
  justOver.writeUInt32BE(1024 * 1024 + 4097, 4 + 8 + 8 + 4 + 4);
  assert.throws(() => decode(NFS3.procedures.WRITE.args, justOver), (e) => e instanceof XdrError && e.kind === 'limit');
  const withinLimitButShort = Buffer.from(wire);
  withinLimitButShort.writeUInt32BE(1024 * 1024, 4 + 8 + 8 + 4 + 4);
  assert.throws(() => decode(NFS3.procedures.WRITE.args, withinLimitButShort), (e) => e instanceof XdrError && e.kind === 'short');
});

test('handles are at most 64 bytes, names 255 and paths 1024, both ways', () => {
  const lookup = NFS3.procedures.LOOKUP.args;
  assert.throws(() => encode(lookup, { what: { dir: Buffer.alloc(65), name: 'a' } }), XdrError);
  assert.throws(() => encode(lookup, { what: { dir: Buffer.alloc(8), name: 'x'.repeat(256) } }), XdrError);
  const ok = encode(lookup, { what: { dir: Buffer.alloc(64), name: 'é'.repeat(127) } }); // 254 bytes
  assert.equal(decode(lookup, ok).what.name, 'é'.repeat(127));
  const fh65 = Buffer.concat([Buffer.from('00000041', 'hex'), Buffer.alloc(68), Buffer.from('0000000161000000', 'hex')]);
  assert.throws(() => decode(lookup, fh65), XdrError);
  const name256 = Buffer.concat([Buffer.from('00000000' + '00000100', 'hex'), Buffer.alloc(256, 0x61)]);
  assert.throws(() => decode(lookup, name256), XdrError);
  const symlink = NFS3.procedures.SYMLINK.args;
  const target = 'p'.repeat(1024);
  const args = { where: { dir: Buffer.alloc(4), name: 'l' }, symlink: { symlinkAttributes: emptySattr3(), symlinkData: target } };
  assert.equal(decode(symlink, encode(symlink, args)).symlink.symlinkData, target);
  assert.throws(() => encode(symlink, { ...args, symlink: { ...args.symlink, symlinkData: target + 'p' } }), XdrError);
});

test('names that are not valid UTF-8 are rejected, not mangled', () => {
  const wire = Buffer.from('00000004' + 'aabbccdd' + '00000002' + 'c328' + '0000', 'hex');
  assert.throws(() => decode(NFS3.procedures.LOOKUP.args, wire), XdrError);
});

test('sattr3 and createhow3 as the Linux client sends them', () => {
  // `touch f`: CREATE UNCHECKED with mode 0644, then times set to the server's clock.
  const create = {
    where: { dir: Buffer.from('01020304', 'hex'), name: 'f' },
    how: {
      mode: CreateMode3.UNCHECKED,
      objAttributes: { ...emptySattr3(), mode: 0o644, atime: { how: TimeHow.SET_TO_SERVER_TIME }, mtime: { how: TimeHow.SET_TO_SERVER_TIME } },
    },
  } as const;
  assert.equal(
    encode(create3Args, create).toString('hex'),
    [
      '00000004', '01020304', '00000001', '66000000', // dir, name
      '00000000', // UNCHECKED
      '00000001', '000001a4', // mode
      '00000000', '00000000', '00000000', // uid gid size not set
      '00000001', '00000001', // atime, mtime: SET_TO_SERVER_TIME
    ].join(''),
  );
  // `cp`: EXCLUSIVE with a verifier.
  const excl = { where: create.where, how: { mode: CreateMode3.EXCLUSIVE, verf: Buffer.from('0011223344556677', 'hex') } } as const;
  const wire = encode(create3Args, excl);
  assert.equal(wire.subarray(16).toString('hex'), '00000002' + '0011223344556677');
  assert.deepEqual(plain(decode(create3Args, wire)), plain(excl));
  // Unknown createmode3 and time_how values are errors.
  const badMode = Buffer.from(wire);
  badMode.writeUInt32BE(3, 16);
  assert.throws(() => decode(create3Args, badMode), XdrError);
  const setattr = encode(NFS3.procedures.SETATTR.args, { object: Buffer.alloc(4), newAttributes: emptySattr3(), guard: undefined });
  const badHow = Buffer.from(setattr);
  badHow.writeUInt32BE(3, 8 + 16);
  assert.throws(() => decode(NFS3.procedures.SETATTR.args, badHow), XdrError);
});

test('results narrow on status, and fail() builds the failure arm with nothing known', () => {
  const r: Getattr3Res = decode(NFS3.procedures.GETATTR.res, encode(NFS3.procedures.GETATTR.res, { status: NfsStat3.NFS3_OK, resok: { objAttributes: SAMPLE_ATTR } }));
  if (r.status === NfsStat3.NFS3_OK) assert.equal(r.resok.objAttributes.fileid, 42n);
  else assert.fail('expected NFS3_OK');

  const expectations: [string, string][] = [
    ['GETATTR', '00000046'],
    ['SETATTR', '00000046' + '00000000' + '00000000'],
    ['LOOKUP', '00000046' + '00000000'],
    ['READ', '00000046' + '00000000'],
    ['WRITE', '00000046' + '00000000' + '00000000'],
    ['CREATE', '00000046' + '00000000' + '00000000'],
    ['RENAME', '00000046' + '00000000'.repeat(4)],
    ['LINK', '00000046' + '00000000'.repeat(3)],
    ['READDIRPLUS', '00000046' + '00000000'],
    ['FSINFO', '00000046' + '00000000'],
  ];
  const procs = NFS3.procedures as unknown as Record<string, { res: Codec<unknown> & { fail(s: number): unknown } }>;
  for (const [name, hex] of expectations) {
    const res = procs[name]!.res;
    assert.equal(encode(res, res.fail(NfsStat3.NFS3ERR_STALE)).toString('hex'), hex, name);
  }
  // An nfsstat3 that RFC 1813 does not define.
  assert.throws(() => decode(NFS3.procedures.GETATTR.res, Buffer.from('00000003', 'hex')), XdrError);
});

test('property: READDIR/READDIRPLUS size functions match the encoded sizes', () => {
  fc.assert(
    fc.property(fc.record({ fileid: u64, name: filename, cookie: u64 }), (e) => {
      assert.equal(encode(entry3, e).length + 4, entry3Size(Buffer.byteLength(e.name)));
    }),
  );
  fc.assert(
    fc.property(
      fc.record({ fileid: u64, name: filename, cookie: u64, nameAttributes: postOpAttr, nameHandle: postOpFh }),
      (e) => {
        const size = entryplus3Size(Buffer.byteLength(e.name), e.nameAttributes !== undefined, e.nameHandle?.length);
        assert.equal(encode(entryplus3, e).length + 4, size);
      },
    ),
  );
  for (const attrs of [undefined, SAMPLE_ATTR]) {
    const base = encode(readdir3Res, {
      status: NfsStat3.NFS3_OK,
      resok: { dirAttributes: attrs, cookieverf: Buffer.alloc(8), reply: { entries: [], eof: true } },
    });
    assert.equal(base.length, readdirResOkBaseSize(attrs !== undefined));
    const plus = encode(readdirplus3Res, {
      status: NfsStat3.NFS3_OK,
      resok: { dirAttributes: attrs, cookieverf: Buffer.alloc(8), reply: { entries: [], eof: true } },
    });
    assert.equal(plus.length, readdirResOkBaseSize(attrs !== undefined));
  }
});

test('READDIR entries are a linked list terminated by FALSE', () => {
  const res = encode(readdir3Res, {
    status: NfsStat3.NFS3_OK,
    resok: {
      dirAttributes: undefined,
      cookieverf: Buffer.from('0102030405060708', 'hex'),
      reply: { entries: [{ fileid: 2n, name: 'a', cookie: 1n }, { fileid: 3n, name: 'bc', cookie: 2n }], eof: true },
    },
  });
  assert.equal(
    res.toString('hex'),
    [
      '00000000', '00000000', '0102030405060708',
      '00000001', '0000000000000002', '00000001', '61000000', '0000000000000001',
      '00000001', '0000000000000003', '00000002', '62630000', '0000000000000002',
      '00000000', '00000001',
    ].join(''),
  );
  // A list marker other than 0/1 is an error.
  const bad = Buffer.from(res);
  bad.writeUInt32BE(2, 16);
  assert.throws(() => decode(readdir3Res, bad), XdrError);
});

test('post_op_attr round-trips through optional with the specialized fattr3', () => {
  fc.assert(
    fc.property(postOpAttr, fh, (a, h) => {
      const c = struct({ a: optional(fattr3), h: optional(fattr3) });
      const v = { a, h: h.length > 10 ? SAMPLE_ATTR : undefined };
      assert.deepEqual(plain(decode(c, encode(c, v))), plain(v));
    }),
  );
});

test('a decoded READ reply keeps offsets when the message does not start at 0', () => {
  const prefix = Buffer.from('deadbeef', 'hex');
  const body = encode(NFS3.procedures.READ.res, {
    status: NfsStat3.NFS3_OK,
    resok: { fileAttributes: undefined, count: 3, eof: true, data: Buffer.from('xyz') },
  });
  const r = new XdrReader(Buffer.concat([prefix, body]), 4);
  const v = NFS3.procedures.READ.res.decode(r);
  assert.ok(v.status === NfsStat3.NFS3_OK && v.resok.data.toString() === 'xyz');
});
