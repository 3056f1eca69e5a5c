// Robustness: random and mutated messages (mutations of the golden vectors and of encoded samples
// of every procedure) fed to the decoders. The only exception allowed is XdrError; no decoder
// allocates a buffer; and whatever decodes re-encodes to exactly the bytes it came from.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { XdrError, XdrReader, XdrWriter, array, decode, opaque, string, uint32 } from '../../../protocol/xdr.js';
import type { Codec } from '../../../protocol/xdr.js';
import { MOUNT3 } from '../../../protocol/mount.js';
import { NFS3 } from '../../../protocol/nfs3/program.js';
import { PMAP2 } from '../../../protocol/portmap.js';
import { RPCB3, RPCB4 } from '../../../protocol/rpcbind.js';
import { NFSACL3 } from '../../../protocol/nfsacl.js';
import type { AnyProcedureCodecs, ProcedureCodecs, ProgramCodecs } from '../../../protocol/program.js';
import { decodeMessage, encodeMessage } from '../../../protocol/programs.js';
import type { ProcedureKey } from '../../../protocol/programs.js';
import {
  AcceptStat,
  AuthStat,
  MsgType,
  RejectStat,
  authSysCred,
  parseAuthSys,
  writeAcceptedReply,
  writeCallHeader,
  writeDeniedReply,
} from '../../../protocol/rpc.js';
import {
  MOUNT3_ARBITRARIES,
  NFS3_ARBITRARIES,
  PMAP2_ARBITRARIES,
  RPCB3_ARBITRARIES,
  RPCB4_ARBITRARIES,
  NFSACL3_ARBITRARIES,
} from './arbitraries.js';
import type { ProcedureArbitraries } from './arbitraries.js';
import { loadGolden } from './golden-fixtures.js';

const CASES = 100_000;
const SEED = 0x5e3d_f00d;

/** mulberry32: a small seeded PRNG, so every run feeds the same cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sample {
  bytes: Buffer;
  key: ProcedureKey;
}

const programs: [ProgramCodecs<Record<string, AnyProcedureCodecs>>, Record<string, ProcedureArbitraries>][] = [
  [NFS3, NFS3_ARBITRARIES],
  [MOUNT3, MOUNT3_ARBITRARIES],
  [PMAP2, PMAP2_ARBITRARIES],
  [RPCB3, RPCB3_ARBITRARIES],
  [RPCB4, RPCB4_ARBITRARIES],
  [NFSACL3, NFSACL3_ARBITRARIES],
];

/** Encoded calls and successful replies of every procedure, plus replies in every other state. */
function ownSamples(): Sample[] {
  const out: Sample[] = [];
  const cred = authSysCred({ stamp: 1, machinename: 'client', uid: 1000, gid: 1000, gids: [1000, 10] });
  let xid = 1;
  for (const [program, arbs] of programs) {
    for (const p of program.byNumber.values()) {
      const key = { prog: program.prog, vers: program.vers, proc: p.proc };
      const arb = arbs[p.name]!;
      for (const args of fc.sample(arb.args, { seed: SEED + p.proc, numRuns: 6 })) {
        const w = new XdrWriter();
        writeCallHeader(w, { xid: xid++, rpcvers: 2, ...key, cred, verf: { flavor: 0, body: Buffer.alloc(0) } });
        p.args.encode(w, args);
        out.push({ bytes: w.toBuffer(), key });
      }
      for (const res of fc.sample(arb.res, { seed: SEED - p.proc, numRuns: 6 })) {
        const w = new XdrWriter();
        writeAcceptedReply(w, xid++);
        p.res.encode(w, res);
        out.push({ bytes: w.toBuffer(), key });
      }
    }
  }
  const key = { prog: NFS3.prog, vers: NFS3.vers, proc: 1 };
  const states: ((w: XdrWriter) => void)[] = [
    (w) => writeAcceptedReply(w, 7, { stat: AcceptStat.PROG_MISMATCH, low: 3, high: 3 }),
    (w) => writeAcceptedReply(w, 7, { stat: AcceptStat.GARBAGE_ARGS }),
    (w) => writeDeniedReply(w, 7, { stat: RejectStat.RPC_MISMATCH, low: 2, high: 2 }),
    (w) => writeDeniedReply(w, 7, { stat: RejectStat.AUTH_ERROR, authStat: AuthStat.AUTH_BADCRED }),
  ];
  for (const write of states) {
    const w = new XdrWriter();
    write(w);
    out.push({ bytes: w.toBuffer(), key });
  }
  return out;
}

const INTERESTING_WORDS = [0, 1, 2, 3, 4, 5, 7, 8, 22, 64, 65, 255, 256, 1024, 1025, 0x7fffffff, 0x80000000, 0xffffffff];

function mutate(src: Buffer, rnd: () => number, corpus: Sample[]): Buffer {
  const int = (n: number) => Math.floor(rnd() * n);
  const b = Buffer.from(src);
  const words = b.length >>> 2;
  switch (int(8)) {
    case 0: {
      // flip a few bits
      for (let i = 0, n = 1 + int(4); i < n && b.length > 0; i++) b[int(b.length)]! ^= 1 << int(8);
      return b;
    }
    case 1: // truncate
      return b.subarray(0, int(b.length + 1));
    case 2: {
      // a huge or boundary length / bogus discriminant in an aligned word
      if (words > 0) b.writeUInt32BE(INTERESTING_WORDS[int(INTERESTING_WORDS.length)]!, 4 * int(words));
      return b;
    }
    case 3: {
      // a random word
      if (words > 0) b.writeUInt32BE(int(0x1_0000_0000), 4 * int(words));
      return b;
    }
    case 4: {
      // delete or duplicate a word
      if (words === 0) return b;
      const at = 4 * int(words);
      return rnd() < 0.5
        ? Buffer.concat([b.subarray(0, at), b.subarray(at + 4)])
        : Buffer.concat([b.subarray(0, at + 4), b.subarray(at)]);
    }
    case 5: {
      // splice with another message
      const other = corpus[int(corpus.length)]!.bytes;
      return Buffer.concat([b.subarray(0, int(b.length + 1)), other.subarray(int(other.length + 1))]);
    }
    case 6: {
      // random bytes of a random length
      const n = int(256);
      const r = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) r[i] = int(256);
      return r;
    }
    default: {
      // overwrite a random run of bytes
      const at = int(b.length + 1);
      for (let i = at; i < Math.min(b.length, at + 1 + int(16)); i++) b[i] = int(256);
      return b;
    }
  }
}

/**
 * Counts buffer allocations made while a decoder runs (decoders should make none): Buffer's
 * allocators are wrapped once for the whole file and count only inside `countAllocations`.
 */
let counting = false;
let allocated = 0;
{
  const saved = { alloc: Buffer.alloc, allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow };
  const note = (size: number) => {
    if (counting) allocated += size;
  };
  Buffer.alloc = ((size: number, ...rest: []) => (note(size), saved.alloc(size, ...rest))) as typeof Buffer.alloc;
  Buffer.allocUnsafe = ((size: number) => (note(size), saved.allocUnsafe(size))) as typeof Buffer.allocUnsafe;
  Buffer.allocUnsafeSlow = ((size: number) => (note(size), saved.allocUnsafeSlow(size))) as typeof Buffer.allocUnsafeSlow;
  after(() => Object.assign(Buffer, saved));
}

function countAllocations<T>(fn: () => T): { value: T; bytes: number } {
  allocated = 0;
  counting = true;
  try {
    return { value: fn(), bytes: allocated };
  } finally {
    counting = false;
  }
}

type Outcome<T> = { ok: true; value: T } | { ok: false };

/** Runs a decoder: XdrError is a result, anything else fails the test. */
function attempt<T>(fn: () => T, input: Buffer): Outcome<T> {
  try {
    const { value, bytes } = countAllocations(fn);
    if (bytes !== 0) assert.fail(`a decoder allocated ${bytes} bytes for input ${input.toString('hex')}`);
    return { ok: true, value };
  } catch (e) {
    if (e instanceof XdrError) return { ok: false };
    if (e instanceof assert.AssertionError) throw e;
    throw new Error(`non-XdrError ${String(e)} for input ${input.toString('hex')}`, { cause: e });
  }
}

const allCodecs: Codec<unknown>[] = programs.flatMap(([p]) =>
  [...p.byNumber.values()].flatMap((c: ProcedureCodecs<unknown, unknown>) => [c.args, c.res]),
);

test(`fuzz: ${CASES} mutated messages throw only XdrError, allocate nothing, and re-encode exactly`, (t) => {
  const golden = loadGolden().map((g) => ({ bytes: g.bytes, key: { prog: g.prog, vers: g.vers, proc: g.proc } }));
  const corpus = [...golden, ...ownSamples()];
  t.diagnostic(`corpus: ${golden.length} golden messages, ${corpus.length - golden.length} encoded samples`);
  const rnd = prng(SEED);
  const stats = { decoded: 0, rejected: 0, unknownProcedure: 0, codecDecoded: 0 };

  for (let i = 0; i < CASES; i++) {
    const base = corpus[Math.floor(rnd() * corpus.length)]!;
    const bytes = mutate(base.bytes, rnd, corpus);

    // The whole message, as a server (calls) or client (replies) would decode it.
    const m = attempt(() => decodeMessage(bytes, base.key), bytes);
    if (!m.ok) stats.rejected++;
    else if (m.value === undefined) stats.unknownProcedure++;
    else {
      stats.decoded++;
      const again = encodeMessage(m.value, base.key);
      if (!again.equals(bytes)) assert.fail(`re-encoding ${bytes.toString('hex')} gave ${again.toString('hex')}`);
      const h = m.value.header;
      if (h.type === MsgType.CALL && h.call.cred.flavor === 1) {
        attempt(() => parseAuthSys(h.call.cred), h.call.cred.body);
      }
    }

    // Any procedure's codec on the bytes after a random aligned offset (foreign data).
    const codec = allCodecs[Math.floor(rnd() * allCodecs.length)]!;
    const body = bytes.subarray(Math.min(bytes.length, 4 * Math.floor(rnd() * 12)));
    const v = attempt(() => decode(codec, body), body);
    if (v.ok) {
      stats.codecDecoded++;
      const w = new XdrWriter();
      codec.encode(w, v.value);
      if (!w.toBuffer().equals(body)) assert.fail(`re-encoding ${body.toString('hex')}`);
    }
  }
  t.diagnostic(JSON.stringify(stats));
  // The mutations must exercise both paths, or the test proves little.
  assert.ok(stats.decoded > CASES / 50, `only ${stats.decoded} messages decoded`);
  assert.ok(stats.rejected > CASES / 4, `only ${stats.rejected} messages rejected`);
});

test('huge lengths on short input are refused before anything is allocated', () => {
  assert.equal(countAllocations(() => Buffer.alloc(10)).bytes, 10, 'the allocation counter works');
  const huge = [0x7fffffff, 0x80000000, 0xffffffff, 0x40000000];
  for (const n of huge) {
    const bytes = Buffer.alloc(12);
    bytes.writeUInt32BE(n, 0);
    // Even with limits that allow the length, the bytes remaining are checked first.
    const codecs: Codec<unknown>[] = [opaque(0xffffffff), string(0xffffffff), array(uint32, 0xffffffff)];
    for (const c of codecs) {
      assert.throws(() => c.decode(new XdrReader(bytes)), (e) => e instanceof XdrError && e.kind === 'short');
    }
    // And with the limits the protocol uses, the limit refuses it.
    assert.throws(() => opaque(64).decode(new XdrReader(bytes)), (e) => e instanceof XdrError && e.kind === 'limit');
  }
  // Every word of samples of every procedure forced to 0x7fffffff: length words must be refused,
  // other words (data) may be accepted, but then only as themselves.
  let checked = 0;
  let refused = 0;
  for (const [program, arbs] of programs) {
    for (const p of program.byNumber.values()) {
      for (const [codec, arb] of [
        [p.args, arbs[p.name]!.args],
        [p.res, arbs[p.name]!.res],
      ] as const) {
        for (const v of fc.sample(arb, { seed: SEED, numRuns: 3 })) {
          const w = new XdrWriter();
          codec.encode(w, v);
          const bytes = w.toBuffer();
          for (let at = 0; at + 4 <= bytes.length; at += 4) {
            const m = Buffer.from(bytes);
            m.writeUInt32BE(0x7fffffff, at);
            const r = attempt(() => decode(codec, m), m);
            checked++;
            if (!r.ok) {
              refused++;
              continue;
            }
            const again = new XdrWriter();
            codec.encode(again, r.value);
            assert.deepEqual(again.toBuffer(), m, `${program.name} ${p.name}: 0x7fffffff at ${at}`);
          }
        }
      }
    }
  }
  assert.ok(checked > 1000 && refused > checked / 4, `${refused} of ${checked} refused`);
});
