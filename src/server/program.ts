// How RPC programs are declared and found: a program has versions, a version has procedures,
// and each procedure declares its argument decoder, handler, result encoder and idempotency.

import type { AuthFlavor, AuthSysParms } from '../../protocol/rpc.js';
import type { ProcedureCodecs } from '../../protocol/program.js';
import type { Codec, XdrReader, XdrWriter } from '../../protocol/xdr.js';
import { xvoid } from '../../protocol/xdr.js';

export interface ClientAddress {
  /** The client's IP address (IPv4-mapped IPv6 addresses are shown as plain IPv4). */
  readonly address: string;
  readonly port: number;
}

/** The caller's credentials, checked by the server before any handler runs. */
export type CallCredentials =
  | { readonly flavor: typeof AuthFlavor.AUTH_NONE }
  | { readonly flavor: typeof AuthFlavor.AUTH_SYS; readonly sys: AuthSysParms };

export interface CallContext {
  readonly xid: number;
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  readonly client: ClientAddress;
  /** Unique per TCP connection for the life of the server. */
  readonly connectionId: number;
  readonly cred: CallCredentials;
  /**
   * Runs `release` once the reply has been written to the socket (or will never be): a handler whose
   * reply carries a buffer by reference (READ's data) learns when that buffer is free again.
   */
  readonly onReplySent?: (release: () => void) => void;
}

export interface ProcedureSpec<A, R> {
  /** The RFC name, e.g. "WRITE"; used in logs. */
  readonly name: string;
  readonly args: Pick<Codec<A>, 'decode'>;
  readonly result: Pick<Codec<R>, 'encode'>;
  /**
   * False for procedures whose repetition changes the outcome (CREATE, REMOVE, RENAME, WRITE…):
   * their replies go through the duplicate-request cache so a retransmission gets the first reply.
   */
  readonly idempotent: boolean;
  handler(args: A, ctx: CallContext): Promise<R> | R;
}

/** A call whose arguments decoded; running it yields the encoder of its results. */
export interface DecodedCall {
  run(ctx: CallContext): Promise<(w: XdrWriter) => void>;
}

/** A registered procedure with its argument and result types hidden, so tables can hold any. */
export interface RpcProcedure {
  readonly name: string;
  readonly idempotent: boolean;
  /** Reads the arguments; throws (XdrError) when they are malformed. */
  decodeArgs(r: XdrReader): DecodedCall;
}

export function procedure<A, R>(spec: ProcedureSpec<A, R>): RpcProcedure {
  return {
    name: spec.name,
    idempotent: spec.idempotent,
    decodeArgs(r) {
      const args = spec.args.decode(r);
      return {
        async run(ctx) {
          const result = await spec.handler(args, ctx);
          return (w) => spec.result.encode(w, result);
        },
      };
    },
  };
}

/** Binds a handler to a procedure declared in a protocol table (protocol/program.ts). */
export function implement<A, R>(
  codecs: ProcedureCodecs<A, R>,
  handler: (args: A, ctx: CallContext) => Promise<R> | R,
): RpcProcedure {
  return procedure({ name: codecs.name, args: codecs.args, result: codecs.res, idempotent: codecs.idempotent, handler });
}

/** Procedure 0 of every program: no arguments, no results, used by clients to ping. */
export function nullProcedure(): RpcProcedure {
  return procedure({ name: 'NULL', args: xvoid, result: xvoid, idempotent: true, handler: () => {} });
}

/** A version is its table of procedures by number. */
export type RpcVersion = Readonly<Record<number, RpcProcedure>>;

export interface RpcProgram {
  readonly name: string;
  readonly program: number;
  readonly versions: Readonly<Record<number, RpcVersion>>;
}

export type ProcedureLookup =
  | { readonly kind: 'found'; readonly programName: string; readonly procedure: RpcProcedure }
  | { readonly kind: 'prog-unavail' }
  | { readonly kind: 'prog-mismatch'; readonly low: number; readonly high: number }
  | { readonly kind: 'proc-unavail' };

interface ProgramEntry {
  readonly name: string;
  readonly versions: Map<number, RpcVersion>;
  low: number;
  high: number;
}

/** The dispatch table: (program, version, procedure) → procedure. */
export class ProgramRegistry {
  private readonly programs = new Map<number, ProgramEntry>();

  /** Adds a program's versions; a program may be registered in parts, but a version only once. */
  register(p: RpcProgram): void {
    let entry = this.programs.get(p.program);
    if (!entry) {
      entry = { name: p.name, versions: new Map(), low: Infinity, high: -Infinity };
    }
    const versions = Object.keys(p.versions).map(Number);
    if (versions.length === 0) throw new Error(`program ${p.name} (${p.program}) has no versions`);
    for (const v of versions) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`program ${p.name}: bad version ${v}`);
      if (entry.versions.has(v)) throw new Error(`program ${p.name} (${p.program}) version ${v} is already registered`);
    }
    for (const v of versions) {
      entry.versions.set(v, p.versions[v]!);
      entry.low = Math.min(entry.low, v);
      entry.high = Math.max(entry.high, v);
    }
    this.programs.set(p.program, entry);
  }

  lookup(program: number, version: number, proc: number): ProcedureLookup {
    const entry = this.programs.get(program);
    if (!entry) return { kind: 'prog-unavail' };
    const table = entry.versions.get(version);
    if (!table) return { kind: 'prog-mismatch', low: entry.low, high: entry.high };
    const found = Object.prototype.hasOwnProperty.call(table, proc) ? table[proc] : undefined;
    if (!found) return { kind: 'proc-unavail' };
    return { kind: 'found', programName: entry.name, procedure: found };
  }

  /** Every registered (program, version), e.g. for a portmapper. */
  list(): { program: number; version: number; name: string }[] {
    const out: { program: number; version: number; name: string }[] = [];
    for (const [program, e] of this.programs) {
      for (const version of [...e.versions.keys()].sort((a, b) => a - b)) out.push({ program, version, name: e.name });
    }
    return out;
  }
}
