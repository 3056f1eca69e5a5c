// Micro-benchmark (not a test): fattr3 encode/decode via the hand-written codec, via the generic
// struct combinators, and as plain Buffer writes into one preallocated buffer (the floor).
// Run: npx tsc -p tsconfig.json && node dist/scripts/bench/fattr3.js

import { XdrReader, XdrWriter, struct, uint32, uint64 } from '../../protocol/xdr.js';
import type { Codec } from '../../protocol/xdr.js';
import { FATTR3_SIZE, Ftype3, fattr3, nfstime3, specdata3 } from '../../protocol/nfs3/index.js';
import type { Fattr3 } from '../../protocol/nfs3/index.js';

const attr: Fattr3 = {
  type: Ftype3.NF3REG,
  mode: 0o100644,
  nlink: 1,
  uid: 1000,
  gid: 1000,
  size: 123456789n,
  used: 123457536n,
  rdev: { specdata1: 0, specdata2: 0 },
  fsid: 0x5a5a5a5an,
  fileid: 987654321n,
  atime: { seconds: 1700000000, nseconds: 123 },
  mtime: { seconds: 1700000001, nseconds: 456 },
  ctime: { seconds: 1700000002, nseconds: 789 },
};

const generic: Codec<Fattr3> = struct({
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
}) as Codec<Fattr3>;

/** Plain Buffer writes: every field written straight into one buffer, no writer, no bounds logic. */
function plainWrite(b: Buffer, at: number, a: Fattr3): void {
  b.writeUInt32BE(a.type, at);
  b.writeUInt32BE(a.mode, at + 4);
  b.writeUInt32BE(a.nlink, at + 8);
  b.writeUInt32BE(a.uid, at + 12);
  b.writeUInt32BE(a.gid, at + 16);
  b.writeBigUInt64BE(a.size, at + 20);
  b.writeBigUInt64BE(a.used, at + 28);
  b.writeUInt32BE(a.rdev.specdata1, at + 36);
  b.writeUInt32BE(a.rdev.specdata2, at + 40);
  b.writeBigUInt64BE(a.fsid, at + 44);
  b.writeBigUInt64BE(a.fileid, at + 52);
  b.writeUInt32BE(a.atime.seconds, at + 60);
  b.writeUInt32BE(a.atime.nseconds, at + 64);
  b.writeUInt32BE(a.mtime.seconds, at + 68);
  b.writeUInt32BE(a.mtime.nseconds, at + 72);
  b.writeUInt32BE(a.ctime.seconds, at + 76);
  b.writeUInt32BE(a.ctime.nseconds, at + 80);
}

/** Each case encodes `PER_MESSAGE` attributes (a READDIRPLUS-sized reply) per iteration. */
const PER_MESSAGE = 32;
const ITERATIONS = 100_000;

function time(label: string, fn: () => void): number {
  for (let i = 0; i < 2_000; i++) fn(); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / (ITERATIONS * PER_MESSAGE);
  console.log(`${label.padEnd(44)} ${ns.toFixed(1).padStart(7)} ns/attr`);
  return ns;
}

let sink = 0;
const floor = Buffer.allocUnsafe(FATTR3_SIZE * PER_MESSAGE);
const results = {
  plain: time('encode: plain Buffer.write*BE calls', () => {
    for (let i = 0; i < PER_MESSAGE; i++) plainWrite(floor, i * FATTR3_SIZE, attr);
    sink += floor[0]!;
  }),
  special: time('encode: fattr3 codec (XdrWriter.reserve)', () => {
    const w = new XdrWriter();
    for (let i = 0; i < PER_MESSAGE; i++) fattr3.encode(w, attr);
    sink += w.length;
  }),
  generic: time('encode: generic struct combinators', () => {
    const w = new XdrWriter();
    for (let i = 0; i < PER_MESSAGE; i++) generic.encode(w, attr);
    sink += w.length;
  }),
};

const w = new XdrWriter();
for (let i = 0; i < PER_MESSAGE; i++) fattr3.encode(w, attr);
const wire = w.toBuffer();
const decodeSpecial = time('decode: fattr3 codec', () => {
  const r = new XdrReader(wire);
  for (let i = 0; i < PER_MESSAGE; i++) sink += fattr3.decode(r).nlink;
});
const decodeGeneric = time('decode: generic struct combinators', () => {
  const r = new XdrReader(wire);
  for (let i = 0; i < PER_MESSAGE; i++) sink += generic.decode(r).nlink;
});

console.log(
  `encode: codec ${(results.special / results.plain).toFixed(2)}x plain Buffer writes, generic ${(results.generic / results.plain).toFixed(2)}x; ` +
    `decode: generic ${(decodeGeneric / decodeSpecial).toFixed(2)}x the codec (sink ${sink > 0})`,
);
