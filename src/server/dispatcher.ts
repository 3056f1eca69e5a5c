// Turns one RPC record into its reply: parses the call header, checks credentials and admission,
// finds the procedure, decodes the arguments, runs the handler (through the duplicate-request
// cache when the procedure is not idempotent) and encodes the reply. No sockets here.

import {
  AcceptStat,
  AuthStat,
  MsgType,
  RPC_VERSION,
  RejectStat,
  opaqueAuth,
  readCallHeader,
  writeAcceptedReply,
  writeDeniedReply,
} from '../../protocol/rpc.js';
import type { AcceptedReply, CallHeader, RejectedReply } from '../../protocol/rpc.js';
import { XdrReader, XdrWriter } from '../../protocol/xdr.js';
import type { AdmissionDecision, AdmissionPolicy } from './admission.js';
import { checkCredentials } from './auth.js';
import { CallRefused } from './call-refused.js';
import type { Refusal } from './call-refused.js';
import { DuplicateRequestCache, drcKey } from './drc.js';
import type { Logger } from './logger.js';
import type { CallContext, ClientAddress, DecodedCall, ProgramRegistry, RpcProcedure } from './program.js';

/** Where a record came from. */
export interface CallSource {
  readonly client: ClientAddress;
  readonly connectionId: number;
}

/**
 * A record either gets a reply (the RPC message, without its record mark, as buffers for
 * writev) or is not an RPC call at all, and the connection it came on should be closed.
 */
export type CallOutcome =
  | {
      readonly kind: 'reply';
      readonly reply: Promise<Buffer[]>;
      /** Call once the reply's buffers have been written (or dropped): runs the handlers' releases. */
      readonly replySent?: () => void;
    }
  | { readonly kind: 'close'; readonly reason: string };

export interface DispatcherCounters {
  calls: number;
  drcHits: number;
  systemErrors: number;
}

export interface DispatcherOptions {
  readonly registry: ProgramRegistry;
  readonly logger: Logger;
  readonly admission?: AdmissionPolicy;
  /** Absent: no duplicate-request cache (every call runs). */
  readonly drc?: DuplicateRequestCache;
}

/** Bytes of a call header up to and including the procedure number. */
const FIXED_CALL_HEADER = 24;

function replied(buffers: Buffer[]): CallOutcome {
  return { kind: 'reply', reply: Promise.resolve(buffers) };
}

function acceptedReply(xid: number, accepted: AcceptedReply): Buffer[] {
  const w = new XdrWriter(64);
  writeAcceptedReply(w, xid, accepted);
  return w.toBuffers();
}

function deniedReply(xid: number, rejected: RejectedReply): Buffer[] {
  const w = new XdrWriter(64);
  writeDeniedReply(w, xid, rejected);
  return w.toBuffers();
}

function authError(xid: number, authStat: AuthStat): Buffer[] {
  return deniedReply(xid, { stat: RejectStat.AUTH_ERROR, authStat });
}

function refusalReply(xid: number, refusal: Refusal): Buffer[] {
  switch (refusal.kind) {
    case 'garbage-args':
      return acceptedReply(xid, { stat: AcceptStat.GARBAGE_ARGS });
    case 'system-err':
      return acceptedReply(xid, { stat: AcceptStat.SYSTEM_ERR });
    case 'auth-error':
      return authError(xid, refusal.authStat);
  }
}

/**
 * Reads the header, telling apart a message that is no call at all (close) from a call whose
 * credential or verifier is malformed (AUTH_ERROR), which a strict decode alone cannot.
 */
function parseHeader(record: Buffer): { header: CallHeader; argsOffset: number } | CallOutcome {
  if (record.length < 8) return { kind: 'close', reason: `record of ${record.length} bytes is no RPC message` };
  const xid = record.readUInt32BE(0);
  const type = record.readUInt32BE(4);
  if (type !== MsgType.CALL) return { kind: 'close', reason: `message type ${type} is not CALL` };
  if (record.length < FIXED_CALL_HEADER) return { kind: 'close', reason: 'truncated call header' };
  const rpcvers = record.readUInt32BE(8);
  if (rpcvers !== RPC_VERSION) {
    return replied(deniedReply(xid, { stat: RejectStat.RPC_MISMATCH, low: RPC_VERSION, high: RPC_VERSION }));
  }
  const r = new XdrReader(record);
  try {
    const header = readCallHeader(r);
    return { header, argsOffset: r.offset };
  } catch {
    const probe = new XdrReader(record, FIXED_CALL_HEADER);
    try {
      opaqueAuth.decode(probe);
    } catch {
      return replied(authError(xid, AuthStat.AUTH_BADCRED));
    }
    return replied(authError(xid, AuthStat.AUTH_BADVERF));
  }
}

export class Dispatcher {
  readonly counters: DispatcherCounters = { calls: 0, drcHits: 0, systemErrors: 0 };
  private readonly registry: ProgramRegistry;
  private readonly logger: Logger;
  private readonly admission: AdmissionPolicy | undefined;
  private readonly drc: DuplicateRequestCache | undefined;

  constructor(options: DispatcherOptions) {
    this.registry = options.registry;
    this.logger = options.logger;
    this.admission = options.admission;
    this.drc = options.drc;
  }

  /** Handles one record. Never throws; the returned promise never rejects. */
  dispatch(record: Buffer, source: CallSource): CallOutcome {
    this.counters.calls++;
    const parsed = parseHeader(record);
    if ('kind' in parsed) return parsed;
    const { header, argsOffset } = parsed;
    const { xid } = header;

    const auth = checkCredentials(header.cred, header.verf);
    if (!auth.ok) return replied(authError(xid, auth.authStat));

    const releases: (() => void)[] = [];
    const ctx: CallContext = {
      xid,
      program: header.prog,
      version: header.vers,
      procedure: header.proc,
      client: source.client,
      connectionId: source.connectionId,
      cred: auth.cred,
      onReplySent: (release) => releases.push(release),
    };
    const replySent = (): void => {
      for (const release of releases.splice(0)) release();
    };
    if (this.admission) {
      let decision: AdmissionDecision;
      try {
        decision = this.admission(ctx);
      } catch (err) {
        this.logger.error('admission policy failed', { err, xid, client: source.client.address });
        return replied(acceptedReply(xid, { stat: AcceptStat.SYSTEM_ERR }));
      }
      if (!decision.admit) return replied(authError(xid, decision.authStat));
    }

    const found = this.registry.lookup(header.prog, header.vers, header.proc);
    switch (found.kind) {
      case 'prog-unavail':
        return replied(acceptedReply(xid, { stat: AcceptStat.PROG_UNAVAIL }));
      case 'prog-mismatch':
        return replied(acceptedReply(xid, { stat: AcceptStat.PROG_MISMATCH, low: found.low, high: found.high }));
      case 'proc-unavail':
        return replied(acceptedReply(xid, { stat: AcceptStat.PROC_UNAVAIL }));
      case 'found':
        break;
    }
    const proc = found.procedure;

    const r = new XdrReader(record, argsOffset);
    let call: DecodedCall;
    try {
      call = proc.decodeArgs(r);
      if (r.remaining() !== 0) throw new Error(`${r.remaining()} bytes after the arguments`);
    } catch (err) {
      this.logger.debug('garbage arguments', { program: found.programName, procedure: proc.name, xid, err });
      return replied(acceptedReply(xid, { stat: AcceptStat.GARBAGE_ARGS }));
    }

    const execute = (): Promise<Buffer[]> => this.execute(proc, found.programName, () => call.run(ctx), ctx);
    if (proc.idempotent || !this.drc) return { kind: 'reply', reply: execute(), replySent };
    const key = drcKey({
      clientAddress: source.client.address,
      xid,
      program: header.prog,
      version: header.vers,
      procedure: header.proc,
      args: record.subarray(argsOffset),
    });
    const hit = this.drc.lookup(key, execute);
    if (hit.source !== 'new') {
      this.counters.drcHits++;
      this.logger.debug('retransmitted call answered from the duplicate-request cache', {
        xid,
        client: source.client.address,
        procedure: proc.name,
        source: hit.source,
      });
    }
    // The cache keeps a copy of the reply, so what the handler lent is free once that copy exists.
    return { kind: 'reply', reply: hit.reply.then((b) => [b]).finally(replySent) };
  }

  private async execute(
    proc: RpcProcedure,
    programName: string,
    run: () => Promise<(w: XdrWriter) => void>,
    ctx: CallContext,
  ): Promise<Buffer[]> {
    try {
      const encodeResult = await run();
      const w = new XdrWriter();
      writeAcceptedReply(w, ctx.xid);
      encodeResult(w);
      return w.toBuffers();
    } catch (err) {
      if (err instanceof CallRefused) return refusalReply(ctx.xid, err.refusal);
      this.counters.systemErrors++;
      this.logger.error('procedure failed', {
        program: programName,
        procedure: proc.name,
        xid: ctx.xid,
        client: ctx.client.address,
        err,
      });
      return acceptedReply(ctx.xid, { stat: AcceptStat.SYSTEM_ERR });
    }
  }
}
