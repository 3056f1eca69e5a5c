import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { AuthStat } from '../../../protocol/rpc.js';
import { RpcServer, nullProcedure, requirePrivilegedPort } from '../../../src/server/index.js';
import type { RpcServerOptions } from '../../../src/server/index.js';
import { frameRecord } from '../../../protocol/record.js';
import {
  Proc,
  TestProgramState,
  accepted,
  callMessage,
  echoArg,
  replyWords,
  testProgram,
  u32,
} from '../../unit/server/test-program.js';
import { TestRpcClient } from './rpc-test-client.js';

async function startServer(options: RpcServerOptions = {}) {
  const state = new TestProgramState();
  const server = new RpcServer(options);
  server.register(testProgram(state));
  server.register({ name: 'nfs', program: 100003, versions: { 3: { 0: nullProcedure() } } });
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
  return { server, state, port };
}

/** Lets the event loop run a while (for "nothing more happens" checks, never for timing). */
async function settle(ms = 50): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 10; i++) await tick();
}

/** Waits until the server sends no more replies (a client that stopped reading); returns how many it sent. */
async function repliesWhenWritingStops(server: RpcServer): Promise<number> {
  let last = -1;
  for (;;) {
    await settle(100);
    const answered = server.stats().repliesSent;
    if (answered === last) return answered;
    last = answered;
  }
}

test('a slow call does not hold back a fast one on the same connection', async () => {
  const { server, state, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  const slow = c.call(callMessage({ xid: 1, proc: Proc.GATED, args: u32(1) }));
  await state.whenStarted(1);
  const fast = await c.call(callMessage({ xid: 2, proc: Proc.ECHO, args: echoArg(Buffer.from('quick')) }));
  assert.deepEqual(fast, Buffer.concat([accepted(2, 0), u32(5), Buffer.from('quick\0\0\0')]));
  state.release(1);
  assert.deepEqual(await slow, Buffer.concat([accepted(1, 0), u32(1)]));
  // Replies came out of order by xid.
  assert.deepEqual(
    c.replies.map((r) => r.readUInt32BE(0)),
    [2, 1],
  );
  await c.close();
  await server.close();
});

test('many calls in flight at once are all answered, in completion order', async () => {
  const { server, state, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  const ids = Array.from({ length: 20 }, (_, i) => i + 100);
  const replies = ids.map((id) => c.call(callMessage({ xid: id, proc: Proc.GATED, args: u32(id) })));
  await Promise.all(ids.map((id) => state.whenStarted(id)));
  for (const id of [...ids].reverse()) {
    state.release(id);
    assert.deepEqual(await replies[id - 100], Buffer.concat([accepted(id, 0), u32(id)]));
  }
  assert.deepEqual(
    c.replies.map((r) => r.readUInt32BE(0)),
    [...ids].reverse(),
  );
  await c.close();
  await server.close();
});

test('a record sent as many fragments, a byte at a time, is reassembled', async () => {
  const { server, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  const data = Buffer.from('fragmented record payload');
  const framed = Buffer.concat(frameRecord([callMessage({ xid: 9, proc: Proc.ECHO, args: echoArg(data) })], 5));
  const p = c.reply(9);
  for (let i = 0; i < framed.length; i++) {
    c.sendRaw(framed.subarray(i, i + 1));
    if (i % 7 === 0) await tick();
  }
  const got = await p;
  assert.deepEqual(got.subarray(28, 28 + data.length), data);
  await c.close();
  await server.close();
});

test('RPC errors on the wire, byte for byte', async () => {
  const { server, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  const cases: [Buffer, Buffer][] = [
    [callMessage({ xid: 1, prog: 0x20000098, proc: 0 }), accepted(1, 1)],
    [callMessage({ xid: 2, vers: 7, proc: 0 }), accepted(2, 2, 1, 2)],
    [callMessage({ xid: 3, prog: 100003, vers: 4, proc: 0 }), accepted(3, 2, 3, 3)],
    [callMessage({ xid: 4, proc: 77 }), accepted(4, 3)],
    [callMessage({ xid: 5, proc: Proc.ECHO, args: u32(8, 0) }), accepted(5, 4)],
    [callMessage({ xid: 6, proc: Proc.ECHO, args: Buffer.concat([echoArg(Buffer.from('ab')), u32(0)]) }), accepted(6, 4)],
    [callMessage({ xid: 7, proc: Proc.FAIL }), accepted(7, 5)],
    [callMessage({ xid: 8, rpcvers: 1, proc: 0 }), replyWords(8, 1, 0, 2, 2)],
    [callMessage({ xid: 9, proc: 0, cred: { flavor: 3, body: Buffer.alloc(0) } }), replyWords(9, 1, 1, AuthStat.AUTH_BADCRED)],
    [callMessage({ xid: 10, proc: 0, verf: { flavor: 1, body: u32(0) } }), replyWords(10, 1, 1, AuthStat.AUTH_BADVERF)],
  ];
  for (const [call, expected] of cases) assert.deepEqual(await c.call(call), expected);
  // The connection survived every one of them.
  assert.deepEqual(await c.call(callMessage({ xid: 11, proc: 0 })), accepted(11, 0));
  await c.close();
  await server.close();
});

test('a message that is not an RPC call closes the connection', async () => {
  const { server, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  assert.deepEqual(await c.call(callMessage({ xid: 1, proc: 0 })), accepted(1, 0));
  c.send(replyWords(2, 0, 0, 0, 0)); // a REPLY sent to the server
  await c.ended;
  assert.equal(server.stats().protocolErrors, 1);
  await server.close();
});

test('an oversized record mark closes the connection before any of its data is sent', async () => {
  const { server, port } = await startServer({ maxRecordSize: 4096 });
  const c = await TestRpcClient.connect(port);
  assert.deepEqual(await c.call(callMessage({ xid: 1, proc: 0 })), accepted(1, 0));
  c.sendRaw(u32(0x80000000 + 4097)); // only the mark: the server decides on it alone
  await c.ended;
  const c2 = await TestRpcClient.connect(port);
  c2.sendRaw(u32(0x7fffffff)); // a non-last fragment of 2 GiB
  await c2.ended;
  const c3 = await TestRpcClient.connect(port);
  c3.sendRaw(Buffer.concat([u32(3000), Buffer.alloc(3000), u32(0x80000000 + 1097)])); // total 4097
  await c3.ended;
  assert.equal(server.stats().protocolErrors, 3);
  // A record of exactly the limit is fine.
  const c4 = await TestRpcClient.connect(port);
  const head = callMessage({ xid: 4, proc: Proc.ECHO });
  const data = Buffer.alloc(1024 - 4, 1);
  const msg = Buffer.concat([head, u32(data.length), data]);
  const padded = Buffer.concat([msg, Buffer.alloc(4096 - msg.length)]); // trailing garbage → GARBAGE_ARGS
  assert.equal(padded.length, 4096);
  assert.deepEqual(await c4.call(padded), accepted(4, 4));
  await c4.close();
  await server.close();
});

test('duplicate-request cache: a retransmission on a new connection while running, and after', async () => {
  const { server, state, port } = await startServer();
  const a = await TestRpcClient.connect(port);
  const b = await TestRpcClient.connect(port);
  const call = callMessage({ xid: 77, proc: Proc.COUNT, args: u32(1) });
  const first = a.call(call);
  await state.whenStarted(1);
  const second = b.call(call);
  // The retransmission joins the running call (it is counted as a hit before the first ends).
  while (server.stats().drcHits < 1) await settle(10);
  assert.deepEqual(state.started, [1]);
  state.release(1);
  const [ra, rb] = await Promise.all([first, second]);
  assert.deepEqual(ra, Buffer.concat([accepted(77, 0), u32(1)]));
  assert.deepEqual(rb, ra);
  // After completion, on a third connection (another source port, same address).
  const c = await TestRpcClient.connect(port);
  assert.deepEqual(await c.call(call), ra);
  assert.equal(state.counts, 1);
  assert.deepEqual(state.started, [1]);
  assert.equal(server.stats().drcHits, 2);
  for (const x of [a, b, c]) await x.close();
  await server.close();
});

test('back-pressure: calls running per connection never exceed the limit', async () => {
  const limit = 4;
  const { server, state, port } = await startServer({ maxCallsInFlightPerConnection: limit });
  const c = await TestRpcClient.connect(port);
  const ids = Array.from({ length: 50 }, (_, i) => i + 1);
  // All calls in one write, so one chunk carries more calls than the limit.
  c.sendRaw(Buffer.concat(ids.flatMap((id) => frameRecord([callMessage({ xid: id, proc: Proc.GATED, args: u32(id) })]))));
  await Promise.all(ids.slice(0, limit).map((id) => state.whenStarted(id)));
  await settle();
  assert.equal(state.started.length, limit, 'no call starts while the connection is at its limit');
  assert.ok(server.stats().readPauses >= 1);
  for (const id of ids) {
    await state.whenStarted(id);
    state.release(id);
  }
  for (const id of ids) assert.deepEqual(await c.reply(id), Buffer.concat([accepted(id, 0), u32(id)]));
  const [connectionId] = [...state.maxRunning.keys()];
  assert.equal(state.maxRunning.get(connectionId!), limit);
  await c.close();
  await server.close();
});

test('back-pressure: a client that does not read its replies stops being read', async () => {
  const { server, port } = await startServer({ maxQueuedReplyBytesPerConnection: 1024 * 1024 });
  const c = await TestRpcClient.connect(port);
  c.socket.pause();
  const calls = 400; // 400 × 256 KiB = 100 MiB of replies, far more than socket buffers hold
  for (let i = 0; i < calls; i++) c.send(callMessage({ xid: i + 1, proc: Proc.BIG }));
  const last = await repliesWhenWritingStops(server);
  assert.ok(last < calls, `server stopped writing replies (${last} of ${calls}) while the client did not read`);
  assert.ok(server.stats().readPauses >= 1);
  c.socket.resume();
  const lastReply = await c.reply(calls);
  assert.equal(lastReply.length, 24 + 4 + 256 * 1024);
  await c.close();
  assert.equal(c.replies.length, calls);
  await server.close();
});

test('a client that half-closes after sending still gets its replies', async () => {
  const { server, state, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  const p = c.reply(1);
  c.send(callMessage({ xid: 1, proc: Proc.GATED, args: u32(1) }));
  c.socket.end();
  await state.whenStarted(1);
  state.release(1);
  assert.deepEqual(await p, Buffer.concat([accepted(1, 0), u32(1)]));
  await c.ended;
  await server.close();
});

test('close() stops accepting, lets running calls answer, then closes connections', async () => {
  const { server, state, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  const p = c.call(callMessage({ xid: 1, proc: Proc.GATED, args: u32(1) }));
  await state.whenStarted(1);
  let closed = false;
  const closing = server.close().then(() => (closed = true));
  await settle();
  assert.equal(closed, false, 'close waits for the running call');
  await assert.rejects(TestRpcClient.connect(port), /ECONNREFUSED/);
  state.release(1);
  assert.deepEqual(await p, Buffer.concat([accepted(1, 0), u32(1)]));
  await c.ended;
  await closing;
  assert.equal(server.stats().connectionsOpen, 0);
});

test('close() cuts connections whose calls outlast the timeout', async () => {
  const { server, state, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  c.send(callMessage({ xid: 1, proc: Proc.GATED, args: u32(1) }));
  await state.whenStarted(1);
  await server.close({ timeoutMs: 100 });
  await c.ended;
  assert.equal(c.replies.length, 0);
  state.release(1);
});

test('the privileged-port policy on a live server', async () => {
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
  const { server, port } = await startServer({ admission: requirePrivilegedPort({ logger }) });
  const c = await TestRpcClient.connect(port);
  assert.deepEqual(await c.call(callMessage({ xid: 1, proc: 0 })), replyWords(1, 1, 1, AuthStat.AUTH_TOOWEAK));
  assert.deepEqual(await c.call(callMessage({ xid: 2, proc: 0 })), replyWords(2, 1, 1, AuthStat.AUTH_TOOWEAK));
  assert.equal(warnings.length, 1);
  await c.close();
  if (process.getuid?.() === 0) {
    const low = await connectFromPrivilegedPort(port);
    assert.deepEqual(await low.call(callMessage({ xid: 3, proc: 0 })), accepted(3, 0));
    await low.close();
  }
  await server.close();
});

async function connectFromPrivilegedPort(port: number): Promise<TestRpcClient> {
  for (let p = 1023; p > 600; p--) {
    try {
      return await TestRpcClient.connect(port, { localPort: p });
    } catch {
      // port taken; try the next
    }
  }
  throw new Error('no free privileged port');
}

test('connection errors (resets mid-record) do not disturb the server', async () => {
  const { server, port } = await startServer();
  for (let i = 0; i < 20; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.concat([u32(0x80000100), Buffer.alloc(10)]));
    s.resetAndDestroy();
  }
  const c = await TestRpcClient.connect(port);
  assert.deepEqual(await c.call(callMessage({ xid: 1, proc: 0 })), accepted(1, 0));
  await c.close();
  await server.close();
});

test('a reply lends its payload until the socket has taken it, and a dropped connection gives it back', async () => {
  const { server, state, port } = await startServer();
  const c = await TestRpcClient.connect(port);
  c.socket.pause();
  const calls = 200; // 200 × 256 KiB = 50 MiB: most replies wait in the server's queue, not in the kernel
  for (let i = 0; i < calls; i++) c.send(callMessage({ xid: i + 1, proc: Proc.BIG }));
  const last = await repliesWhenWritingStops(server);
  assert.ok(last > 0);
  assert.ok(state.bigReleased < last, `${state.bigReleased} of ${last} queued replies released before they were written`);
  c.socket.resume();
  await c.reply(calls);
  for (let i = 0; i < 100 && state.bigReleased < calls; i++) await settle(10);
  assert.equal(state.bigReleased, calls, 'every written reply released its payload');

  // A client that goes away with replies still queued: they are released, not leaked.
  const d = await TestRpcClient.connect(port);
  d.socket.pause();
  for (let i = 0; i < 100; i++) d.send(callMessage({ xid: i + 1, proc: Proc.BIG }));
  for (let i = 0; i < 100 && state.bigReleased < calls + 20; i++) await settle(10);
  d.socket.destroy();
  for (let i = 0; i < 200 && state.bigReleased < calls + 100; i++) await settle(10);
  assert.equal(state.bigReleased, calls + 100, 'replies dropped with their connection released their payload');
  await c.close();
  await server.close();
});
