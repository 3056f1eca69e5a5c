// Procedure tables: for each RPC program version, procedure number → name, argument codec and
// result codec, so a server dispatches generically and captured traffic decodes by (prog, vers, proc).

import type { Codec } from './xdr.js';

export interface ProcedureCodecs<A, R> {
  readonly proc: number;
  /** The RFC name, e.g. "READDIRPLUS". */
  readonly name: string;
  readonly args: Codec<A>;
  readonly res: Codec<R>;
  /**
   * False when repeating the call can change its outcome (CREATE, REMOVE, RENAME, WRITE…), the
   * ones whose replies a duplicate-request cache keeps (the same set Linux knfsd caches).
   */
  readonly idempotent: boolean;
}

/** A table entry with its types hidden, for generic dispatch and decoding. */
export type AnyProcedureCodecs = ProcedureCodecs<unknown, unknown>;

export interface ProgramCodecs<P extends Record<string, AnyProcedureCodecs>> {
  readonly name: string;
  readonly prog: number;
  readonly vers: number;
  /** Procedures by RFC name, with their types. */
  readonly procedures: P;
  /** Procedures by number. */
  readonly byNumber: ReadonlyMap<number, AnyProcedureCodecs>;
}

type Spec<A, R> = Omit<ProcedureCodecs<A, R>, 'name'>;
type Named<S extends Record<string, Spec<unknown, unknown>>> = {
  [K in keyof S]: S[K] extends Spec<infer A, infer R> ? ProcedureCodecs<A, R> : never;
};

/** Builds a program's table; each procedure's name is its key. */
export function programCodecs<S extends Record<string, Spec<unknown, unknown>>>(
  name: string,
  prog: number,
  vers: number,
  specs: S,
): ProgramCodecs<Named<S>> {
  const procedures: Record<string, AnyProcedureCodecs> = {};
  const byNumber = new Map<number, AnyProcedureCodecs>();
  for (const [procName, spec] of Object.entries(specs)) {
    if (byNumber.has(spec.proc)) throw new Error(`${name}: procedure ${spec.proc} declared twice`);
    const p = { ...spec, name: procName };
    procedures[procName] = p;
    byNumber.set(spec.proc, p);
  }
  return { name, prog, vers, procedures: procedures as Named<S>, byNumber };
}

/** Finds the codecs of a procedure among several programs (e.g. to decode captured traffic). */
export class ProcedureIndex {
  private readonly table = new Map<string, AnyProcedureCodecs>();

  constructor(programs: readonly ProgramCodecs<Record<string, AnyProcedureCodecs>>[]) {
    for (const p of programs) {
      for (const [proc, codecs] of p.byNumber) this.table.set(`${p.prog}/${p.vers}/${proc}`, codecs);
    }
  }

  find(prog: number, vers: number, proc: number): AnyProcedureCodecs | undefined {
    return this.table.get(`${prog}/${vers}/${proc}`);
  }
}
