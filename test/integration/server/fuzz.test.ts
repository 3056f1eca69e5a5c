// Fuzzes a live server with ≥ 10,000 random and mutated records over several connections while
// a well-formed client keeps checking its answers. Seeded: a failure replays with the same seed
// (S3NFS_FUZZ_SEED=… to try others).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AcceptStat, AuthStat, ReplyStat, RejectStat, readReplyHeader } from '../../../protocol/rpc.js';
import { frameRecord } from '../../../protocol/record.js';
import { XdrReader, opaque, uint32, xvoid } from '../../../protocol/xdr.js';
import { RpcServer, nullProcedure, procedure } from '../../../src/server/index.js';
import type { RpcProgram } from '../../../src/server/index.js';
import { SYS_CRED, callMessage, echoArg, u32 } from '../../unit/server/test-program.js';
import { TestRpcClient } from './rpc-test-client.js';

const PROG = 0x20000123;
const MAX_RECORD = 64 * 1024;
const RECORDS = 10_000;
const FUZZ_CONNECTIONS = 6;

/** mulberry32: a small seeded generator, so runs are reproducible. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

interface FuzzState {
  appends: number;
}

function fuzzProgram(state: FuzzState): RpcProgram {
  const data = opaque(4096);
  const payload = Buffer.alloc(8192, 0x33);
  return {
    name: 'fuzz',
    program: PROG,
    versions: {
      1: {
        0: nullProcedure(),
        1: procedure({ name: 'ECHO', args: data, result: data, idempotent: true, handler: (d) => d }),
        2: procedure({
          name: 'SLOW',
          args: uint32,
          result: uint32,
          idempotent: true,
          handler: async (ms) => {
            await sleep(ms % 4);
            return ms;
          },
        }),
        3: procedure({
          name: 'APPEND',
          args: data,
          result: uint32,
          idempotent: false,
          handler: async () => {
            await sleep(1);
            return ++state.appends;
          },
        }),
        4: procedure({
          name: 'FAIL',
          args: xvoid,
          result: xvoid,
          idempotent: true,
          handler: () => {
            throw new Error('expected failure');
          },
        }),
        5: procedure({ name: 'BIG', args: xvoid, result: opaque(1 << 16), idempotent: true, handler: () => payload }),
      },
      3: { 0: nullProcedure() },
    },
  };
}

type Generated = { bytes: Buffer; kind: 'reply' | 'maybe-close' | 'close' | 'close-after-end' };

/** Recent APPEND calls, resent (on any connection) to exercise the duplicate-request cache. */
const retransmittable: Buffer[] = [];

/** One fuzz record (or raw bytes), and what the server may do with it. */
function generate(rng: Rng): Generated {
  const xid = rng.u32();
  if (retransmittable.length > 0 && rng.chance(0.05)) {
    return { bytes: Buffer.concat(frameRecord([rng.pick(retransmittable)])), kind: 'reply' };
  }
  if (rng.chance(0.05)) {
    const m = callMessage({ xid, prog: PROG, proc: 3, args: echoArg(rng.bytes(rng.int(0, 64))) });
    if (retransmittable.length >= 64) retransmittable[rng.int(0, 63)] = m;
    else retransmittable.push(m);
    return { bytes: Buffer.concat(frameRecord([m])), kind: 'reply' };
  }
  const valid = (): Buffer =>
    callMessage({
      xid,
      prog: rng.chance(0.8) ? PROG : rng.pick([100003, rng.u32()]),
      vers: rng.pick([1, 1, 1, 3, 2, rng.u32()]),
      proc: rng.int(0, 7),
      cred: rng.chance(0.9) ? SYS_CRED : { flavor: rng.int(0, 7), body: rng.bytes(rng.int(0, 40)) },
      args: rng.pick([
        () => Buffer.alloc(0),
        () => echoArg(rng.bytes(rng.int(0, 200))),
        () => u32(rng.u32()),
        () => rng.bytes(rng.int(0, 300)),
        () => u32(rng.u32(), rng.u32()),
      ])(),
    });
  const frame = (msg: Buffer): Buffer => Buffer.concat(frameRecord([msg], rng.chance(0.2) ? rng.int(1, 64) : undefined));
  const roll = rng.int(0, 99);
  if (roll < 40) return { bytes: frame(valid()), kind: 'reply' };
  if (roll < 48) {
    const m = valid();
    m.writeUInt32BE(rng.pick([0, 1, 3, rng.u32()]), 8); // rpcvers
    return { bytes: frame(m), kind: 'reply' };
  }
  if (roll < 58) {
    // Mangled auth lengths: the header stays a call, so an AUTH_ERROR or GARBAGE_ARGS answer.
    const m = valid();
    m.writeUInt32BE(rng.pick([401, 0xffffffff, rng.u32(), rng.int(0, 64)]), 28);
    return { bytes: frame(m), kind: 'reply' };
  }
  if (roll < 73) {
    // Bit flips anywhere, including the message type: the server may close.
    const m = valid();
    for (let i = rng.int(1, 4); i > 0; i--) m[rng.int(0, m.length - 1)]! ^= 1 << rng.int(0, 7);
    return { bytes: frame(m), kind: 'maybe-close' };
  }
  if (roll < 83) {
    // Truncated message, or random bytes, as a well-framed record.
    const m = rng.chance(0.5) ? valid().subarray(0, rng.int(0, 40)) : rng.bytes(rng.int(0, 100));
    return { bytes: frame(m), kind: 'maybe-close' };
  }
  if (roll < 88) {
    // An oversized mark (then data that never completes it).
    return {
      bytes: Buffer.concat([u32(rng.pick([0x80000000, 0]) + rng.int(MAX_RECORD + 1, 0x7fffffff)), rng.bytes(rng.int(0, 64))]),
      kind: 'close',
    };
  }
  if (roll < 93) {
    // A record cut short, then the client stops sending.
    return { bytes: frame(valid()).subarray(0, rng.int(1, 30)), kind: 'close-after-end' };
  }
  // Unframed random bytes.
  return { bytes: rng.bytes(rng.int(1, 200)), kind: 'close-after-end' };
}

function assertIsReply(reply: Buffer): void {
  const h = readReplyHeader(new XdrReader(reply));
  if (h.replyStat === ReplyStat.MSG_DENIED) {
    assert.ok(
      (h.rejected.stat === RejectStat.RPC_MISMATCH && h.rejected.low === 2 && h.rejected.high === 2) ||
        (h.rejected.stat === RejectStat.AUTH_ERROR &&
          (h.rejected.authStat === AuthStat.AUTH_BADCRED || h.rejected.authStat === AuthStat.AUTH_BADVERF)),
    );
  }
}

test('fuzz: the live server survives random and mutated records while serving a good client', async (t) => {
  const seed = Number(process.env.S3NFS_FUZZ_SEED ?? 0x5eed1234);
  const failures: unknown[] = [];
  const onFailure = (err: unknown): void => void failures.push(err);
  process.on('uncaughtException', onFailure);
  process.on('unhandledRejection', onFailure);
  t.after(() => {
    process.off('uncaughtException', onFailure);
    process.off('unhandledRejection', onFailure);
  });

  const state: FuzzState = { appends: 0 };
  const server = new RpcServer({ maxRecordSize: MAX_RECORD, maxCallsInFlightPerConnection: 8 });
  server.register(fuzzProgram(state));
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });

  const memory = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const baseline = memory();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, memory())), 20);

  let sent = 0;
  let badReplies = 0;
  let fuzzing = true;

  async function fuzzer(rng: Rng): Promise<void> {
    let sentinel = 0xf0000000 + rng.int(0, 0xffff) * 0x1000;
    while (sent < RECORDS) {
      const c = await TestRpcClient.connect(port, {
        retain: false,
        onReply: (r) => {
          try {
            assertIsReply(r);
          } catch {
            badReplies++;
          }
        },
      });
      let open = true;
      while (open && sent < RECORDS) {
        const parts: Buffer[] = [];
        let last: Generated['kind'] = 'reply';
        // A batch ends after the first record that may close the connection, so few are wasted.
        for (let n = rng.int(1, 40); n > 0 && last === 'reply'; n--) {
          const g = generate(rng);
          parts.push(g.bytes);
          last = g.kind;
          sent++;
        }
        if (last === 'close' || last === 'close-after-end') {
          c.sendRaw(Buffer.concat(parts));
          if (last === 'close-after-end') c.socket.end();
          await c.ended;
          open = false;
        } else {
          // A NULL call after the batch tells whether the connection is still usable.
          const xid = ++sentinel;
          parts.push(Buffer.concat(frameRecord([callMessage({ xid, prog: PROG, proc: 0 })])));
          const answered = c.reply(xid).then(() => true);
          c.sendRaw(Buffer.concat(parts));
          open = await Promise.race([answered, c.ended.then(() => false)]);
        }
      }
      c.socket.destroy();
    }
  }

  let goodCalls = 0;
  async function goodClient(rng: Rng): Promise<void> {
    const c = await TestRpcClient.connect(port, { retain: false });
    let xid = 1;
    while (fuzzing) {
      const data = rng.bytes(rng.int(0, 300));
      const echo = c.call(callMessage({ xid: xid++, prog: PROG, proc: 1, args: echoArg(data) }));
      const slow = c.call(callMessage({ xid: xid++, prog: PROG, proc: 2, args: u32(rng.u32()) }));
      const append = c.call(callMessage({ xid: xid++, prog: PROG, proc: 3, args: echoArg(data) }));
      const [e, , a] = await Promise.all([echo, slow, append]);
      const eh = readReplyHeader(new XdrReader(e));
      assert.ok(eh.replyStat === ReplyStat.MSG_ACCEPTED && eh.accepted.stat === AcceptStat.SUCCESS);
      assert.deepEqual(e.subarray(24), echoArg(data));
      const ah = readReplyHeader(new XdrReader(a));
      assert.ok(ah.replyStat === ReplyStat.MSG_ACCEPTED && ah.accepted.stat === AcceptStat.SUCCESS);
      goodCalls += 3;
    }
    await c.close();
  }

  const good = goodClient(new Rng(seed ^ 0xabcdef));
  await Promise.all(Array.from({ length: FUZZ_CONNECTIONS }, (_, i) => fuzzer(new Rng(seed + i))));
  fuzzing = false;
  await good;
  clearInterval(sampler);

  const stats = server.stats();
  await server.close({ timeoutMs: 2000 });

  assert.deepEqual(failures, []);
  assert.equal(badReplies, 0, 'every reply to a fuzz record is a valid RPC reply');
  assert.ok(sent >= RECORDS);
  assert.ok(stats.calls >= RECORDS * 0.8, `server handled ${stats.calls} records`);
  assert.ok(stats.drcHits > 0, 'retransmissions were answered from the duplicate-request cache');
  assert.ok(stats.protocolErrors > 100, 'the fuzz really did send garbage');
  assert.ok(goodCalls >= 30, `the good client kept going (${goodCalls} calls)`);
  assert.equal(server.stats().connectionsOpen, 0);
  assert.equal(server.stats().callsInFlight, 0);
  assert.ok(peak - baseline < 200 * 1024 * 1024, `memory grew by ${((peak - baseline) / 1048576).toFixed(1)} MiB`);
  t.diagnostic(
    `seed ${seed}: ${sent} records sent, ${stats.recordsReceived} decoded, ${stats.calls} dispatched, ` +
      `${stats.protocolErrors} connections closed for garbage, ${stats.systemErrors} SYSTEM_ERR, ` +
      `${stats.drcHits} DRC hits, ${goodCalls} good calls, memory +${((peak - baseline) / 1048576).toFixed(1)} MiB`,
  );
});
