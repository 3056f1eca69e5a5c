import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthFlavor, AuthStat, NULL_AUTH } from '../../../protocol/rpc.js';
import { Dispatcher } from '../../../src/server/dispatcher.js';
import type { CallOutcome, CallSource } from '../../../src/server/dispatcher.js';
import { DuplicateRequestCache } from '../../../src/server/drc.js';
import { ProgramRegistry, nullProcedure } from '../../../src/server/program.js';
import type { LogFields, Logger } from '../../../src/server/logger.js';
import { requirePrivilegedPort } from '../../../src/server/admission.js';
import {
  Proc,
  TEST_PROG,
  TestProgramState,
  accepted,
  callMessage,
  echoArg,
  replyWords,
  testProgram,
  u32,
} from './test-program.js';

class MemoryLogger implements Logger {
  lines: { level: string; message: string; fields?: LogFields }[] = [];
  debug(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'debug', message, fields });
  }
  info(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'error', message, fields });
  }
}

const SOURCE: CallSource = { client: { address: '127.0.0.1', port: 700 }, connectionId: 1 };

function setup(extra: Partial<{ admission: Parameters<typeof requirePrivilegedPort>[0] }> = {}) {
  const state = new TestProgramState();
  const registry = new ProgramRegistry();
  registry.register(testProgram(state));
  registry.register({ name: 'nfs', program: 100003, versions: { 3: { 0: nullProcedure() } } });
  const logger = new MemoryLogger();
  const drc = new DuplicateRequestCache();
  const dispatcher = new Dispatcher({
    registry,
    logger,
    drc,
    admission: extra.admission ? requirePrivilegedPort(extra.admission) : undefined,
  });
  return { state, dispatcher, logger, drc };
}

async function reply(outcome: CallOutcome): Promise<Buffer> {
  assert.equal(outcome.kind, 'reply');
  if (outcome.kind !== 'reply') throw new Error('unreachable');
  return Buffer.concat(await outcome.reply);
}

test('ECHO returns its argument in a SUCCESS reply', async () => {
  const { dispatcher } = setup();
  const got = await reply(dispatcher.dispatch(callMessage({ xid: 7, proc: Proc.ECHO, args: echoArg(Buffer.from('hi!')) }), SOURCE));
  assert.deepEqual(got, Buffer.concat([accepted(7, 0), u32(3), Buffer.from('hi!\0')]));
});

test('the reply of a large result holds the handler’s payload buffer itself (no copy)', async () => {
  const { dispatcher, state } = setup();
  const outcome = dispatcher.dispatch(callMessage({ xid: 8, proc: Proc.BIG }), SOURCE);
  assert.equal(outcome.kind, 'reply');
  if (outcome.kind !== 'reply') return;
  const parts = await outcome.reply;
  assert.ok(parts.includes(state.bigPayload));
});

test('RPC-level errors are answered with the right reply, byte for byte', async () => {
  const { dispatcher } = setup();
  const cases: [string, Buffer, Buffer][] = [
    ['PROG_UNAVAIL', callMessage({ xid: 1, prog: 0x20000098, proc: 0 }), accepted(1, 1)],
    ['PROG_MISMATCH', callMessage({ xid: 2, vers: 9, proc: 0 }), accepted(2, 2, 1, 2)],
    ['PROG_MISMATCH for NFS v4', callMessage({ xid: 3, prog: 100003, vers: 4, proc: 0 }), accepted(3, 2, 3, 3)],
    ['PROC_UNAVAIL', callMessage({ xid: 4, proc: 99 }), accepted(4, 3)],
    ['PROC_UNAVAIL (no such proc in v2)', callMessage({ xid: 5, vers: 2, proc: Proc.ECHO }), accepted(5, 3)],
    ['GARBAGE_ARGS (short)', callMessage({ xid: 6, proc: Proc.ECHO, args: u32(8) }), accepted(6, 4)],
    ['GARBAGE_ARGS (trailing)', callMessage({ xid: 7, proc: Proc.NULL, args: u32(0) }), accepted(7, 4)],
    ['GARBAGE_ARGS (over limit)', callMessage({ xid: 8, proc: Proc.ECHO, args: u32(5000) }), accepted(8, 4)],
    ['SYSTEM_ERR', callMessage({ xid: 9, proc: Proc.FAIL }), accepted(9, 5)],
    ['RPC_MISMATCH', callMessage({ xid: 10, rpcvers: 3, proc: 0 }), replyWords(10, 1, 0, 2, 2)],
    ['RPC_MISMATCH (rest unreadable)', u32(11, 0, 1, 0, 0, 0), replyWords(11, 1, 0, 2, 2)],
    [
      'AUTH_ERROR BADCRED (unknown flavor)',
      callMessage({ xid: 12, proc: 0, cred: { flavor: AuthFlavor.RPCSEC_GSS, body: Buffer.alloc(8) } }),
      replyWords(12, 1, 1, AuthStat.AUTH_BADCRED),
    ],
    [
      'AUTH_ERROR BADCRED (malformed AUTH_SYS body)',
      callMessage({ xid: 13, proc: 0, cred: { flavor: AuthFlavor.AUTH_SYS, body: u32(1, 2) } }),
      replyWords(13, 1, 1, AuthStat.AUTH_BADCRED),
    ],
    [
      'AUTH_ERROR BADCRED (AUTH_NONE with a body)',
      callMessage({ xid: 14, proc: 0, cred: { flavor: AuthFlavor.AUTH_NONE, body: u32(1) } }),
      replyWords(14, 1, 1, AuthStat.AUTH_BADCRED),
    ],
    [
      'AUTH_ERROR BADCRED (credential longer than 400 bytes)',
      Buffer.concat([u32(15, 0, 2, TEST_PROG, 1, 0, 1, 500), Buffer.alloc(500)]),
      replyWords(15, 1, 1, AuthStat.AUTH_BADCRED),
    ],
    [
      'AUTH_ERROR BADVERF (verifier not AUTH_NONE)',
      callMessage({ xid: 16, proc: 0, verf: { flavor: AuthFlavor.AUTH_SYS, body: Buffer.alloc(0) } }),
      replyWords(16, 1, 1, AuthStat.AUTH_BADVERF),
    ],
    ['AUTH_ERROR BADVERF (verifier missing)', u32(17, 0, 2, TEST_PROG, 1, 0, 0, 0), replyWords(17, 1, 1, AuthStat.AUTH_BADVERF)],
    ['AUTH_ERROR from a handler', callMessage({ xid: 18, proc: Proc.REFUSE }), replyWords(18, 1, 1, AuthStat.AUTH_TOOWEAK)],
  ];
  for (const [name, call, expected] of cases) {
    assert.deepEqual(await reply(dispatcher.dispatch(call, SOURCE)), expected, name);
  }
});

test('messages that are not RPC calls close the connection', () => {
  const { dispatcher } = setup();
  for (const record of [Buffer.alloc(0), u32(1), u32(1, 1, 0, 0, 0, 0), u32(1, 7), u32(1, 0, 2, TEST_PROG, 1)]) {
    assert.equal(dispatcher.dispatch(record, SOURCE).kind, 'close', record.toString('hex'));
  }
});

test('a handler failure is logged and answered with SYSTEM_ERR', async () => {
  const { dispatcher, logger } = setup();
  await reply(dispatcher.dispatch(callMessage({ xid: 1, proc: Proc.FAIL }), SOURCE));
  const errors = logger.lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.fields?.procedure, 'FAIL');
  assert.equal(dispatcher.counters.systemErrors, 1);
});

test('the handler sees the client, the connection and the AUTH_SYS credential', async () => {
  const { dispatcher, state } = setup();
  const got = await reply(dispatcher.dispatch(callMessage({ xid: 3, proc: Proc.WHOAMI }), SOURCE));
  assert.deepEqual(got, Buffer.concat([accepted(3, 0), u32(1000)]));
  const ctx = state.lastCtx!;
  assert.deepEqual(ctx.client, SOURCE.client);
  assert.equal(ctx.connectionId, 1);
  assert.equal(ctx.cred.flavor, AuthFlavor.AUTH_SYS);
  if (ctx.cred.flavor === AuthFlavor.AUTH_SYS) assert.deepEqual(ctx.cred.sys.gids, [1000, 4]);
  const none = await reply(dispatcher.dispatch(callMessage({ xid: 4, proc: Proc.WHOAMI, cred: NULL_AUTH }), SOURCE));
  assert.deepEqual(none, Buffer.concat([accepted(4, 0), u32(0xffffffff)]));
});

test('the privileged-port policy refuses other ports with AUTH_TOOWEAK and logs each client once', async () => {
  const logger = new MemoryLogger();
  const { dispatcher } = setup({ admission: { logger, exempt: (c) => c.procedure === 0 } });
  const high: CallSource = { client: { address: '10.0.0.9', port: 40000 }, connectionId: 2 };
  const tooWeak = replyWords(1, 1, 1, AuthStat.AUTH_TOOWEAK);
  assert.deepEqual(await reply(dispatcher.dispatch(callMessage({ xid: 1, proc: Proc.WHOAMI }), high)), tooWeak);
  const again = { ...high, client: { ...high.client, port: 40001 } };
  assert.deepEqual(await reply(dispatcher.dispatch(callMessage({ xid: 1, proc: Proc.WHOAMI }), again)), tooWeak);
  assert.equal(logger.lines.filter((l) => l.level === 'warn').length, 1);
  // Exempt procedure and privileged port are admitted.
  assert.deepEqual(await reply(dispatcher.dispatch(callMessage({ xid: 2, proc: Proc.NULL }), high)), accepted(2, 0));
  assert.deepEqual(
    await reply(dispatcher.dispatch(callMessage({ xid: 3, proc: Proc.WHOAMI }), SOURCE)),
    Buffer.concat([accepted(3, 0), u32(1000)]),
  );
});

test('a retransmitted non-idempotent call runs once and gets the first reply', async () => {
  const { dispatcher, state } = setup();
  const call = callMessage({ xid: 42, proc: Proc.COUNT, args: u32(1) });
  const first = dispatcher.dispatch(call, SOURCE);
  await state.whenStarted(1);
  // Same client address, another port and connection (a reconnect), while the first still runs.
  const retry = dispatcher.dispatch(Buffer.from(call), { client: { address: '127.0.0.1', port: 701 }, connectionId: 2 });
  state.release(1);
  const [a, b] = await Promise.all([reply(first), reply(retry)]);
  assert.deepEqual(a, b);
  assert.deepEqual(a, Buffer.concat([accepted(42, 0), u32(1)]));
  const later = await reply(dispatcher.dispatch(Buffer.from(call), SOURCE));
  assert.deepEqual(later, a);
  assert.equal(state.counts, 1);
  assert.equal(dispatcher.counters.drcHits, 2);

  // Another client address, other arguments, or another xid: a new call.
  state.release(2);
  state.release(3);
  state.release(4);
  await reply(dispatcher.dispatch(Buffer.from(call), { client: { address: '127.0.0.2', port: 700 }, connectionId: 3 }));
  await reply(dispatcher.dispatch(callMessage({ xid: 42, proc: Proc.COUNT, args: u32(2) }), SOURCE));
  await reply(dispatcher.dispatch(callMessage({ xid: 43, proc: Proc.COUNT, args: u32(3) }), SOURCE));
  assert.equal(state.counts, 4);
});

test('idempotent calls are never answered from the cache', async () => {
  const { dispatcher, state } = setup();
  state.release(5);
  const call = callMessage({ xid: 50, proc: Proc.GATED, args: u32(5) });
  await reply(dispatcher.dispatch(call, SOURCE));
  await reply(dispatcher.dispatch(call, SOURCE));
  assert.deepEqual(state.started, [5, 5]);
});

test('releases a handler registers with onReplySent run when the connection says the reply was sent, once', async () => {
  const { dispatcher, state } = setup();
  const outcome = dispatcher.dispatch(callMessage({ xid: 77, proc: Proc.BIG }), SOURCE);
  assert.equal(outcome.kind, 'reply');
  if (outcome.kind !== 'reply') return;
  const bytes = Buffer.concat(await outcome.reply);
  assert.equal(bytes.length, 24 + 4 + 256 * 1024);
  assert.equal(state.bigReleased, 0, 'the payload is still lent while the reply waits to be written');
  assert.ok(outcome.replySent);
  outcome.replySent();
  outcome.replySent();
  assert.equal(state.bigReleased, 1);
});
