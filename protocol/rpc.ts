// ONC RPC version 2 message headers (RFC 5531): call and reply headers, opaque_auth and the
// AUTH_SYS credential. A call is read header-first from an XdrReader, which is then left at the
// procedure arguments; a reply header is written into an XdrWriter and the caller writes the
// procedure results after it.

import { XdrError, XdrReader, XdrWriter, array, decode, enumOf, opaque, string, struct, uint32 } from './xdr.js';
import type { Codec } from './xdr.js';

export const RPC_VERSION = 2;

export const MsgType = { CALL: 0, REPLY: 1 } as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

export const ReplyStat = { MSG_ACCEPTED: 0, MSG_DENIED: 1 } as const;
export type ReplyStat = (typeof ReplyStat)[keyof typeof ReplyStat];

export const AcceptStat = {
  SUCCESS: 0,
  PROG_UNAVAIL: 1,
  PROG_MISMATCH: 2,
  PROC_UNAVAIL: 3,
  GARBAGE_ARGS: 4,
  SYSTEM_ERR: 5,
} as const;
export type AcceptStat = (typeof AcceptStat)[keyof typeof AcceptStat];

export const RejectStat = { RPC_MISMATCH: 0, AUTH_ERROR: 1 } as const;
export type RejectStat = (typeof RejectStat)[keyof typeof RejectStat];

/** Flavors are an open set on the wire, so a credential's flavor is kept as a plain number. */
export const AuthFlavor = {
  AUTH_NONE: 0,
  AUTH_SYS: 1,
  AUTH_SHORT: 2,
  AUTH_DH: 3,
  RPCSEC_GSS: 6,
} as const;
export type AuthFlavor = (typeof AuthFlavor)[keyof typeof AuthFlavor];

export const AuthStat = {
  AUTH_OK: 0,
  AUTH_BADCRED: 1,
  AUTH_REJECTEDCRED: 2,
  AUTH_BADVERF: 3,
  AUTH_REJECTEDVERF: 4,
  AUTH_TOOWEAK: 5,
  AUTH_INVALIDRESP: 6,
  AUTH_FAILED: 7,
  AUTH_KERB_GENERIC: 8,
  AUTH_TIMEEXPIRE: 9,
  AUTH_TKT_FILE: 10,
  AUTH_DECODE: 11,
  AUTH_NET_ADDR: 12,
  RPCSEC_GSS_CREDPROBLEM: 13,
  RPCSEC_GSS_CTXPROBLEM: 14,
} as const;
export type AuthStat = (typeof AuthStat)[keyof typeof AuthStat];

/** RFC 5531: the body of an opaque_auth is at most 400 bytes. */
export const MAX_AUTH_BYTES = 400;
/** RFC 5531 authsys_parms: machinename<255>, gids<16>. */
export const MAX_MACHINE_NAME = 255;
export const MAX_AUTH_SYS_GIDS = 16;

// ---------------------------------------------------------------------------------------------
// Authentication

export interface OpaqueAuth {
  flavor: number;
  body: Buffer;
}

export const opaqueAuth: Codec<OpaqueAuth> = struct({ flavor: uint32, body: opaque(MAX_AUTH_BYTES) });

/** The AUTH_NONE credential/verifier (an empty body). */
export const NULL_AUTH: Readonly<OpaqueAuth> = Object.freeze({ flavor: AuthFlavor.AUTH_NONE, body: Buffer.alloc(0) });

export interface AuthSysParms {
  stamp: number;
  machinename: string;
  uid: number;
  gid: number;
  gids: number[];
}

export const authSysParms: Codec<AuthSysParms> = struct({
  stamp: uint32,
  machinename: string(MAX_MACHINE_NAME),
  uid: uint32,
  gid: uint32,
  gids: array(uint32, MAX_AUTH_SYS_GIDS),
});

/**
 * The AUTH_SYS parameters carried in a credential. Throws XdrError when the credential is not
 * AUTH_SYS or its body is malformed (the server answers AUTH_ERROR/AUTH_BADCRED then).
 */
export function parseAuthSys(cred: OpaqueAuth): AuthSysParms {
  if (cred.flavor !== AuthFlavor.AUTH_SYS) throw XdrError.decoding(`credential flavor ${cred.flavor} is not AUTH_SYS`);
  return decode(authSysParms, cred.body);
}

/** Builds an AUTH_SYS credential (clients in tests; servers never need to). */
export function authSysCred(p: AuthSysParms): OpaqueAuth {
  const w = new XdrWriter(64);
  authSysParms.encode(w, p);
  return { flavor: AuthFlavor.AUTH_SYS, body: w.toBuffer() };
}

// ---------------------------------------------------------------------------------------------
// Call header

export interface CallHeader {
  xid: number;
  /** Not checked by the decoder: a server answers a value other than 2 with RPC_MISMATCH. */
  rpcvers: number;
  prog: number;
  vers: number;
  proc: number;
  cred: OpaqueAuth;
  verf: OpaqueAuth;
}

const callBody = struct({
  rpcvers: uint32,
  prog: uint32,
  vers: uint32,
  proc: uint32,
  cred: opaqueAuth,
  verf: opaqueAuth,
});

/** Reads a call header; `r` is left at the first byte of the procedure arguments. */
export function readCallHeader(r: XdrReader): CallHeader {
  const xid = r.uint32();
  const type = r.uint32();
  if (type !== MsgType.CALL) throw XdrError.decoding(`message type ${type} is not CALL`);
  return { xid, ...callBody.decode(r) };
}

export function writeCallHeader(w: XdrWriter, h: CallHeader): void {
  w.uint32(h.xid).uint32(MsgType.CALL);
  callBody.encode(w, h);
}

export const callHeader: Codec<CallHeader> = { encode: writeCallHeader, decode: readCallHeader };

// ---------------------------------------------------------------------------------------------
// Reply header

/** The accepted_reply arms; after SUCCESS the procedure's results follow the header. */
export type AcceptedReply =
  | { stat: typeof AcceptStat.SUCCESS }
  | { stat: typeof AcceptStat.PROG_MISMATCH; low: number; high: number }
  | {
      stat:
        | typeof AcceptStat.PROG_UNAVAIL
        | typeof AcceptStat.PROC_UNAVAIL
        | typeof AcceptStat.GARBAGE_ARGS
        | typeof AcceptStat.SYSTEM_ERR;
    };

export type RejectedReply =
  | { stat: typeof RejectStat.RPC_MISMATCH; low: number; high: number }
  | { stat: typeof RejectStat.AUTH_ERROR; authStat: AuthStat };

export type ReplyHeader =
  | { xid: number; replyStat: typeof ReplyStat.MSG_ACCEPTED; verf: OpaqueAuth; accepted: AcceptedReply }
  | { xid: number; replyStat: typeof ReplyStat.MSG_DENIED; rejected: RejectedReply };

const acceptStat = enumOf<AcceptStat>('accept_stat', Object.values(AcceptStat));
const authStat = enumOf<AuthStat>('auth_stat', Object.values(AuthStat));

export function writeReplyHeader(w: XdrWriter, h: ReplyHeader): void {
  w.uint32(h.xid).uint32(MsgType.REPLY).uint32(h.replyStat);
  if (h.replyStat === ReplyStat.MSG_ACCEPTED) {
    opaqueAuth.encode(w, h.verf);
    const a = h.accepted;
    w.uint32(a.stat);
    if (a.stat === AcceptStat.PROG_MISMATCH) w.uint32(a.low).uint32(a.high);
  } else {
    const j = h.rejected;
    w.uint32(j.stat);
    if (j.stat === RejectStat.RPC_MISMATCH) w.uint32(j.low).uint32(j.high);
    else w.uint32(j.authStat);
  }
}

/** Reads a reply header; after SUCCESS `r` is left at the first byte of the results. */
export function readReplyHeader(r: XdrReader): ReplyHeader {
  const xid = r.uint32();
  const type = r.uint32();
  if (type !== MsgType.REPLY) throw XdrError.decoding(`message type ${type} is not REPLY`);
  const replyStat = r.uint32();
  if (replyStat === ReplyStat.MSG_ACCEPTED) {
    const verf = opaqueAuth.decode(r);
    const stat = acceptStat.decode(r);
    const accepted: AcceptedReply =
      stat === AcceptStat.PROG_MISMATCH ? { stat, low: r.uint32(), high: r.uint32() } : { stat };
    return { xid, replyStat, verf, accepted };
  }
  if (replyStat === ReplyStat.MSG_DENIED) {
    const stat = r.uint32();
    if (stat === RejectStat.RPC_MISMATCH) return { xid, replyStat, rejected: { stat, low: r.uint32(), high: r.uint32() } };
    if (stat === RejectStat.AUTH_ERROR) return { xid, replyStat, rejected: { stat, authStat: authStat.decode(r) } };
    throw XdrError.decoding(`bad reject_stat ${stat}`);
  }
  throw XdrError.decoding(`bad reply_stat ${replyStat}`);
}

export const replyHeader: Codec<ReplyHeader> = { encode: writeReplyHeader, decode: readReplyHeader };

/** Writes an accepted reply header (SUCCESS unless told otherwise); results, if any, follow. */
export function writeAcceptedReply(
  w: XdrWriter,
  xid: number,
  accepted: AcceptedReply = { stat: AcceptStat.SUCCESS },
  verf: OpaqueAuth = NULL_AUTH,
): void {
  writeReplyHeader(w, { xid, replyStat: ReplyStat.MSG_ACCEPTED, verf, accepted });
}

/** Writes a denied reply (RPC_MISMATCH or AUTH_ERROR); nothing follows it. */
export function writeDeniedReply(w: XdrWriter, xid: number, rejected: RejectedReply): void {
  writeReplyHeader(w, { xid, replyStat: ReplyStat.MSG_DENIED, rejected });
}

// ---------------------------------------------------------------------------------------------
// Either message

export type RpcHeader = { type: typeof MsgType.CALL; call: CallHeader } | { type: typeof MsgType.REPLY; reply: ReplyHeader };

/** Reads the header of any RPC message (calls and replies, e.g. captured traffic). */
export function readRpcHeader(r: XdrReader): RpcHeader {
  if (r.remaining() < 8) throw XdrError.decoding(`RPC message of ${r.remaining()} bytes is too short`);
  const type = r.buf.readUInt32BE(r.offset + 4);
  if (type === MsgType.CALL) return { type, call: readCallHeader(r) };
  if (type === MsgType.REPLY) return { type, reply: readReplyHeader(r) };
  throw XdrError.decoding(`bad msg_type ${type}`);
}

export function writeRpcHeader(w: XdrWriter, h: RpcHeader): void {
  if (h.type === MsgType.CALL) writeCallHeader(w, h.call);
  else writeReplyHeader(w, h.reply);
}
