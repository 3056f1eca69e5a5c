// A small RPC program for the server tests, and builders for call messages.

import { AuthFlavor, NULL_AUTH, authSysCred, writeCallHeader } from '../../../protocol/rpc.js';
import type { OpaqueAuth } from '../../../protocol/rpc.js';
import { XdrWriter, opaque, uint32, xvoid } from '../../../protocol/xdr.js';
import { CallRefused, nullProcedure, procedure } from '../../../src/server/index.js';
import type { CallContext, RpcProgram } from '../../../src/server/index.js';
import { AuthStat } from '../../../protocol/rpc.js';

export const TEST_PROG = 0x20000099;

export const Proc = {
  NULL: 0,
  ECHO: 1,
  GATED: 2,
  COUNT: 3,
  FAIL: 4,
  BIG: 5,
  REFUSE: 6,
  WHOAMI: 7,
} as const;

/** A promise with its resolver, for handlers the test releases. */
export class Gate {
  readonly opened: Promise<void>;
  open!: () => void;
  constructor() {
    this.opened = new Promise((resolve) => {
      this.open = resolve;
    });
  }
}

/** What the test program's handlers record, and how the test steers them. */
export class TestProgramState {
  /** Gates of GATED/COUNT calls, by the uint32 argument they carry. */
  private readonly gates = new Map<number, Gate>();
  /** Resolves when the gated call with this id starts. */
  private readonly startedWaiters = new Map<number, Gate>();
  started: number[] = [];
  counts = 0;
  running = new Map<number, number>(); // connection id → calls running now
  maxRunning = new Map<number, number>();
  bigPayload = Buffer.alloc(256 * 1024, 0x5a);
  /** BIG replies the server reported written (or dropped): their payload is free again. */
  bigReleased = 0;
  lastCtx: CallContext | undefined;

  gate(id: number): Gate {
    let g = this.gates.get(id);
    if (!g) {
      g = new Gate();
      this.gates.set(id, g);
    }
    return g;
  }

  release(id: number): void {
    this.gate(id).open();
  }

  whenStarted(id: number): Promise<void> {
    let g = this.startedWaiters.get(id);
    if (!g) {
      g = new Gate();
      this.startedWaiters.set(id, g);
    }
    return g.opened;
  }

  async gated(id: number, ctx: CallContext): Promise<number> {
    const c = ctx.connectionId;
    const now = (this.running.get(c) ?? 0) + 1;
    this.running.set(c, now);
    this.maxRunning.set(c, Math.max(now, this.maxRunning.get(c) ?? 0));
    this.started.push(id);
    void this.whenStarted(id);
    this.startedWaiters.get(id)!.open();
    try {
      await this.gate(id).opened;
    } finally {
      this.running.set(c, (this.running.get(c) ?? 1) - 1);
    }
    return id;
  }
}

const echoArgs = opaque(1024);

export function testProgram(state: TestProgramState): RpcProgram {
  return {
    name: 'test',
    program: TEST_PROG,
    versions: {
      1: {
        [Proc.NULL]: nullProcedure(),
        [Proc.ECHO]: procedure({
          name: 'ECHO',
          args: echoArgs,
          result: echoArgs,
          idempotent: true,
          handler: (data) => data,
        }),
        [Proc.GATED]: procedure({
          name: 'GATED',
          args: uint32,
          result: uint32,
          idempotent: true,
          handler: (id, ctx) => state.gated(id, ctx),
        }),
        [Proc.COUNT]: procedure({
          name: 'COUNT',
          args: uint32,
          result: uint32,
          idempotent: false,
          handler: async (id, ctx) => {
            state.counts++;
            const n = state.counts;
            await state.gated(id, ctx);
            return n;
          },
        }),
        [Proc.FAIL]: procedure({
          name: 'FAIL',
          args: xvoid,
          result: xvoid,
          idempotent: true,
          handler: () => {
            throw new Error('handler failure (expected by the test)');
          },
        }),
        [Proc.BIG]: procedure({
          name: 'BIG',
          args: xvoid,
          result: opaque(1 << 20),
          idempotent: true,
          handler: (_args, ctx) => {
            ctx.onReplySent?.(() => state.bigReleased++);
            return state.bigPayload;
          },
        }),
        [Proc.REFUSE]: procedure({
          name: 'REFUSE',
          args: xvoid,
          result: xvoid,
          idempotent: true,
          handler: () => {
            throw new CallRefused({ kind: 'auth-error', authStat: AuthStat.AUTH_TOOWEAK });
          },
        }),
        [Proc.WHOAMI]: procedure({
          name: 'WHOAMI',
          args: xvoid,
          result: uint32,
          idempotent: true,
          handler: (_args, ctx) => {
            state.lastCtx = ctx;
            return ctx.cred.flavor === AuthFlavor.AUTH_SYS ? ctx.cred.sys.uid : 0xffffffff;
          },
        }),
      },
      2: { [Proc.NULL]: nullProcedure() },
    },
  };
}

export interface CallSpec {
  xid: number;
  prog?: number;
  vers?: number;
  proc: number;
  rpcvers?: number;
  cred?: OpaqueAuth;
  verf?: OpaqueAuth;
  /** Encoded arguments. */
  args?: Buffer;
}

export const SYS_CRED = authSysCred({ stamp: 1, machinename: 'client', uid: 1000, gid: 1000, gids: [1000, 4] });

/** An encoded call message (no record mark). */
export function callMessage(c: CallSpec): Buffer {
  const w = new XdrWriter();
  writeCallHeader(w, {
    xid: c.xid,
    rpcvers: c.rpcvers ?? 2,
    prog: c.prog ?? TEST_PROG,
    vers: c.vers ?? 1,
    proc: c.proc,
    cred: c.cred ?? SYS_CRED,
    verf: c.verf ?? NULL_AUTH,
  });
  const head = w.toBuffer();
  return c.args ? Buffer.concat([head, c.args]) : head;
}

export function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

export function echoArg(data: Buffer): Buffer {
  const w = new XdrWriter();
  echoArgs.encode(w, data);
  return w.toBuffer();
}

/** Expected reply bytes: xid, REPLY, then the given words. */
export function replyWords(xid: number, ...words: number[]): Buffer {
  return u32(xid, 1, ...words);
}

/** MSG_ACCEPTED with a null verifier, then accept_stat and what follows. */
export function accepted(xid: number, ...words: number[]): Buffer {
  return replyWords(xid, 0, 0, 0, ...words);
}
