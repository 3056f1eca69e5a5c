// The NLM lock table against a byte-by-byte model of POSIX locks, and the NLM program's answers
// (GRANTED, DENIED with the holder, BLOCKED, CANCEL, STALE_FH, FREE_ALL) for calls from two clients;
// SM_NOTIFY releasing a restarted client's locks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NLM4, NLM_V4, Nlm4Stat, NlmProc } from '../../../protocol/nlm4.js';
import type { Nlm4Lock, Nlm4Res, Nlm4Testres } from '../../../protocol/nlm4.js';
import { NSM1, NSM_V1, NsmProc } from '../../../protocol/nsm.js';
import { AuthFlavor } from '../../../protocol/rpc.js';
import { XdrReader, XdrWriter, encode } from '../../../protocol/xdr.js';
import { silentLogger } from '../../../src/log/logger.js';
import { END_OF_FILE, LockTable, rangeOf, type LockOwner } from '../../../src/nlm/lock-table.js';
import { nsmProgram } from '../../../src/nlm/nsm-program.js';
import { nlmProgram } from '../../../src/nlm/program.js';
import type { CallContext, RpcProgram } from '../../../src/server/index.js';

const owners: LockOwner[] = ['a', 'b', 'c'].map((k, i) => ({
  key: k,
  address: `10.0.0.${i + 1}`,
  host: `host-${k}`,
  svid: i,
  oh: Buffer.from(k),
}));

/** Bytes 0..31 are ordinary; byte 32 stands for everything from 32 on ("to the end of the file"). */
const N = 32;
type Model = Map<string, boolean>[]; // per byte: owner key → exclusive

function modelRange(offset: number, len: number): [number, number] {
  return [offset, len === 0 ? N + 1 : offset + len];
}

const op = fc.record({
  kind: fc.constantFrom('lock', 'unlock'),
  owner: fc.nat(2),
  exclusive: fc.boolean(),
  offset: fc.nat(15),
  len: fc.nat(16),
});

test('the lock table behaves like per-byte POSIX locks: conflicts, replacement, splitting, merging', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const table = new LockTable();
      const model: Model = Array.from({ length: N + 1 }, () => new Map());
      for (const o of ops) {
        const owner = owners[o.owner]!;
        const { start, end } = rangeOf(BigInt(o.offset), BigInt(o.len));
        const [from, to] = modelRange(o.offset, o.len);
        if (o.kind === 'unlock') {
          table.unlock('f', owner, start, end);
          for (let i = from; i < to; i++) model[i]!.delete(owner.key);
          continue;
        }
        let conflict = false;
        for (let i = from; i < to && !conflict; i++) {
          for (const [k, excl] of model[i]!) if (k !== owner.key && (excl || o.exclusive)) conflict = true;
        }
        const outcome = table.lock('f', owner, o.exclusive, start, end);
        assert.equal(outcome.granted, !conflict || start >= end);
        if (!outcome.granted) {
          const h = outcome.holder;
          assert.notEqual(h.owner.key, owner.key);
          assert.ok(h.start < end && start < h.end && (h.exclusive || o.exclusive), 'the holder really conflicts');
        } else {
          for (let i = from; i < to; i++) model[i]!.set(owner.key, o.exclusive);
        }
      }
      // Same coverage, byte by byte.
      const locks = table.locksOf('f');
      for (let i = 0; i <= N; i++) {
        const at = BigInt(i);
        const held = new Map(locks.filter((l) => l.start <= at && at < l.end).map((l) => [l.owner.key, l.exclusive]));
        assert.deepEqual(held, model[i], `byte ${i}`);
      }
      // Each owner's locks are disjoint and not mergeable (no touching locks of the same kind).
      for (const owner of owners) {
        const mine = locks.filter((l) => l.owner.key === owner.key).sort((x, y) => (x.start < y.start ? -1 : 1));
        for (let i = 1; i < mine.length; i++) {
          assert.ok(mine[i - 1]!.end <= mine[i]!.start, 'disjoint');
          if (mine[i - 1]!.exclusive === mine[i]!.exclusive) assert.ok(mine[i - 1]!.end < mine[i]!.start, 'merged');
        }
      }
    }),
  );
});

test('a length of 0 runs to the end of the file; lengths past 2^64 stop there', () => {
  assert.deepEqual(rangeOf(10n, 0n), { start: 10n, end: END_OF_FILE });
  assert.deepEqual(rangeOf(END_OF_FILE - 1n, 5n), { start: END_OF_FILE - 1n, end: END_OF_FILE });
  const t = new LockTable();
  assert.equal(t.lock('f', owners[0]!, true, 1000n, END_OF_FILE).granted, true);
  assert.equal(t.lock('f', owners[1]!, false, 1n << 62n, (1n << 62n) + 1n).granted, false);
  assert.equal(t.lock('g', owners[1]!, true, 0n, END_OF_FILE).granted, true, 'files are independent');
  assert.equal(t.releaseWhere((o) => o.host === 'host-a'), 1);
  assert.deepEqual(t.size, { files: 1, locks: 1 });
});

// ---- the program ----------------------------------------------------------------------------

function ctx(address: string, procedure: number): CallContext {
  return {
    xid: 1,
    program: NLM4.prog,
    version: NLM_V4,
    procedure,
    client: { address, port: 700 },
    connectionId: 1,
    cred: { flavor: AuthFlavor.AUTH_NONE },
  };
}

async function callProc<A, R>(program: RpcProgram, codecs: { proc: number; args: { encode(w: XdrWriter, v: A): void }; res: { decode(r: XdrReader): R } }, args: A, address: string): Promise<R> {
  const proc = program.versions[NLM_V4]![codecs.proc]!;
  const w0 = new XdrWriter();
  codecs.args.encode(w0, args);
  const encodeResult = await proc.decodeArgs(new XdrReader(w0.toBuffer())).run(ctx(address, codecs.proc));
  const w = new XdrWriter();
  encodeResult(w);
  return codecs.res.decode(new XdrReader(w.toBuffer()));
}

const knownHandle = Buffer.from('0011223344556677', 'hex');
const fs = {
  idForHandle(handle: Uint8Array): bigint {
    if (Buffer.compare(Buffer.from(handle), knownHandle) !== 0) throw new Error('stale');
    return 42n;
  },
};

function alock(callerName: string, svid: number, offset: bigint, len: bigint, fh = knownHandle): Nlm4Lock {
  return { callerName, fh, oh: Buffer.from(`${svid}@${callerName}`), svid, offset, len };
}

test('NLM: LOCK, TEST, UNLOCK, BLOCKED, CANCEL and FREE_ALL between two clients', async () => {
  const program = nlmProgram({ fs, logger: silentLogger });
  const p = NLM4.procedures;
  const cookie = Buffer.from([1, 2, 3]);
  const lockA = alock('alpha', 10, 0n, 100n);
  const lockB = alock('beta', 20, 50n, 0n);

  const granted: Nlm4Res = await callProc(program, p.LOCK, { cookie, block: false, exclusive: true, alock: lockA, reclaim: false, state: 1 }, '10.0.0.1');
  assert.deepEqual(granted, { cookie, stat: Nlm4Stat.NLM4_GRANTED }, 'the cookie comes back');

  const test1: Nlm4Testres = await callProc(program, p.TEST, { cookie, exclusive: false, alock: lockB }, '10.0.0.2');
  assert.equal(test1.test.stat, Nlm4Stat.NLM4_DENIED);
  assert.ok(test1.test.stat === Nlm4Stat.NLM4_DENIED && test1.test.holder.svid === 10 && test1.test.holder.len === 100n);

  const denied = await callProc(program, p.LOCK, { cookie, block: false, exclusive: false, alock: lockB, reclaim: false, state: 1 }, '10.0.0.2');
  assert.equal(denied.stat, Nlm4Stat.NLM4_DENIED);
  const blocked = await callProc(program, p.LOCK, { cookie, block: true, exclusive: false, alock: lockB, reclaim: false, state: 1 }, '10.0.0.2');
  assert.equal(blocked.stat, Nlm4Stat.NLM4_BLOCKED);
  const cancelled = await callProc(program, p.CANCEL, { cookie, block: true, exclusive: false, alock: lockB }, '10.0.0.2');
  assert.equal(cancelled.stat, Nlm4Stat.NLM4_GRANTED, 'a blocked request is cancelled');
  const again = await callProc(program, p.CANCEL, { cookie, block: true, exclusive: false, alock: lockB }, '10.0.0.2');
  assert.equal(again.stat, Nlm4Stat.NLM4_DENIED, 'nothing left to cancel');

  // The same lock from another address is another owner, even with the same name and svid.
  const spoof = await callProc(program, p.UNLOCK, { cookie, alock: lockA }, '10.0.0.9');
  assert.equal(spoof.stat, Nlm4Stat.NLM4_GRANTED);
  assert.equal((await callProc(program, p.TEST, { cookie, exclusive: true, alock: lockB }, '10.0.0.2')).test.stat, Nlm4Stat.NLM4_DENIED);

  // Unlocking part of A's range leaves [0, 50) locked; B's range from 50 is free.
  await callProc(program, p.UNLOCK, { cookie, alock: alock('alpha', 10, 50n, 50n) }, '10.0.0.1');
  const nowFree = await callProc(program, p.LOCK, { cookie, block: true, exclusive: true, alock: lockB, reclaim: false, state: 1 }, '10.0.0.2');
  assert.equal(nowFree.stat, Nlm4Stat.NLM4_GRANTED);

  const stale = await callProc(program, p.LOCK, { cookie, block: false, exclusive: true, alock: alock('alpha', 10, 0n, 1n, Buffer.from('dead', 'hex')), reclaim: false, state: 1 }, '10.0.0.1');
  assert.equal(stale.stat, Nlm4Stat.NLM4_STALE_FH);

  // beta restarts: FREE_ALL drops its locks.
  const proc = program.versions[NLM_V4]![NlmProc.FREE_ALL]!;
  const run = await proc.decodeArgs(new XdrReader(encode(p.FREE_ALL.args, { name: 'beta', state: 3 }))).run(ctx('10.0.0.2', NlmProc.FREE_ALL));
  run(new XdrWriter());
  const afterFree = await callProc(program, p.TEST, { cookie, exclusive: true, alock: alock('gamma', 1, 60n, 10n) }, '10.0.0.3');
  assert.equal(afterFree.test.stat, Nlm4Stat.NLM4_GRANTED);
});

test('SM_NOTIFY from a restarted client releases the locks it held (by name or by address)', async () => {
  const table = new LockTable();
  const program = nlmProgram({ fs, logger: silentLogger, table });
  const nsm = nsmProgram({ table, logger: silentLogger });
  const p = NLM4.procedures;
  const cookie = Buffer.alloc(0);
  const lock = (name: string, svid: number, address: string) =>
    callProc(program, p.LOCK, { cookie, block: false, exclusive: true, alock: alock(name, svid, BigInt(svid * 10), 5n), reclaim: false, state: 1 }, address);
  assert.equal((await lock('alpha', 1, '10.0.0.1')).stat, Nlm4Stat.NLM4_GRANTED);
  assert.equal((await lock('alpha', 2, '10.0.0.1')).stat, Nlm4Stat.NLM4_GRANTED);
  assert.equal((await lock('beta', 3, '10.0.0.2')).stat, Nlm4Stat.NLM4_GRANTED);
  assert.equal((await lock('gamma', 4, '10.0.0.3')).stat, Nlm4Stat.NLM4_GRANTED);
  const notify = async (monName: string, address: string) => {
    const proc = nsm.versions[NSM_V1]![NsmProc.NOTIFY]!;
    const run = await proc.decodeArgs(new XdrReader(encode(NSM1.procedures.NOTIFY.args, { monName, state: 3 }))).run({
      ...ctx(address, NsmProc.NOTIFY),
      program: NSM1.prog,
      version: NSM_V1,
    });
    run(new XdrWriter());
  };
  await notify('alpha', '10.0.0.9');
  assert.deepEqual(table.size, { files: 1, locks: 2 }, 'alpha (by name) is gone');
  await notify('beta.example.com', '10.0.0.2');
  assert.deepEqual(table.size, { files: 1, locks: 1 }, 'beta (by address) is gone');
  assert.equal(table.locksOf('42')[0]?.owner.host, 'gamma');
});
