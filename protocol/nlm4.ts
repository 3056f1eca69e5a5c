// The Network Lock Manager, version 4 (X/Open XNFS, chapter 10 and 14): byte-range locks on files
// of an NFSv3 server. The Linux client speaks it synchronously (TEST, LOCK, CANCEL, UNLOCK); the
// *_MSG/*_RES procedures are the asynchronous forms other clients use, and GRANTED is the
// server's call back to a client whose blocked lock became free.

import { bool, int32, opaque, string, struct, uint64, variant, xvoid } from './xdr.js';
import type { Infer } from './xdr.js';
import { programCodecs } from './program.js';

export const NLM_PROGRAM = 100021;
export const NLM_V4 = 4;

export const NlmProc = {
  NULL: 0,
  TEST: 1,
  LOCK: 2,
  CANCEL: 3,
  UNLOCK: 4,
  GRANTED: 5,
  SHARE: 20,
  UNSHARE: 21,
  NM_LOCK: 22,
  FREE_ALL: 23,
} as const;

export const LM_MAXSTRLEN = 1024;
export const MAXNETOBJ_SZ = 1024;

export const Nlm4Stat = {
  NLM4_GRANTED: 0,
  NLM4_DENIED: 1,
  NLM4_DENIED_NOLOCKS: 2,
  NLM4_BLOCKED: 3,
  NLM4_DENIED_GRACE_PERIOD: 4,
  NLM4_DEADLCK: 5,
  NLM4_ROFS: 6,
  NLM4_STALE_FH: 7,
  NLM4_FBIG: 8,
  NLM4_FAILED: 9,
} as const;
export type Nlm4Stat = (typeof Nlm4Stat)[keyof typeof Nlm4Stat];

const netobj = opaque(MAXNETOBJ_SZ);
const callerName = string(LM_MAXSTRLEN);

/** The lock a call is about: owner (caller_name, svid, oh), file handle and byte range (len 0: to the end). */
export const nlm4Lock = struct({
  callerName,
  fh: netobj,
  oh: netobj,
  svid: int32,
  offset: uint64,
  len: uint64,
});
export type Nlm4Lock = Infer<typeof nlm4Lock>;

/** Who holds a conflicting lock (TEST's answer). */
export const nlm4Holder = struct({ exclusive: bool, svid: int32, oh: netobj, offset: uint64, len: uint64 });
export type Nlm4Holder = Infer<typeof nlm4Holder>;

export const nlm4Testargs = struct({ cookie: netobj, exclusive: bool, alock: nlm4Lock });
export type Nlm4Testargs = Infer<typeof nlm4Testargs>;

export const nlm4Lockargs = struct({
  cookie: netobj,
  block: bool,
  exclusive: bool,
  alock: nlm4Lock,
  reclaim: bool,
  state: int32,
});
export type Nlm4Lockargs = Infer<typeof nlm4Lockargs>;

export const nlm4Cancargs = struct({ cookie: netobj, block: bool, exclusive: bool, alock: nlm4Lock });
export type Nlm4Cancargs = Infer<typeof nlm4Cancargs>;

export const nlm4Unlockargs = struct({ cookie: netobj, alock: nlm4Lock });
export type Nlm4Unlockargs = Infer<typeof nlm4Unlockargs>;

/** nlm4_res: the cookie echoed, and a status. */
export const nlm4Res = struct({ cookie: netobj, stat: int32 });
export type Nlm4Res = Infer<typeof nlm4Res>;

const testStatArms = {
  [Nlm4Stat.NLM4_GRANTED]: {},
  [Nlm4Stat.NLM4_DENIED]: { holder: nlm4Holder },
  [Nlm4Stat.NLM4_DENIED_NOLOCKS]: {},
  [Nlm4Stat.NLM4_BLOCKED]: {},
  [Nlm4Stat.NLM4_DENIED_GRACE_PERIOD]: {},
  [Nlm4Stat.NLM4_DEADLCK]: {},
  [Nlm4Stat.NLM4_ROFS]: {},
  [Nlm4Stat.NLM4_STALE_FH]: {},
  [Nlm4Stat.NLM4_FBIG]: {},
  [Nlm4Stat.NLM4_FAILED]: {},
};
/** nlm4_testrply: DENIED carries the holder. */
export const nlm4TestRply = variant('nlm4_stats', 'stat', testStatArms);
export const nlm4Testres = struct({ cookie: netobj, test: nlm4TestRply });
export type Nlm4Testres = Infer<typeof nlm4Testres>;

/** FREE_ALL: a client (by name) restarted and holds nothing any more. */
export const nlm4Notify = struct({ name: string(LM_MAXSTRLEN + 1), state: int32 });
export type Nlm4Notify = Infer<typeof nlm4Notify>;

export const NLM4 = programCodecs('nlockmgr', NLM_PROGRAM, NLM_V4, {
  NULL: { proc: NlmProc.NULL, args: xvoid, res: xvoid, idempotent: true },
  TEST: { proc: NlmProc.TEST, args: nlm4Testargs, res: nlm4Testres, idempotent: true },
  // Retransmitted LOCK/UNLOCK of the same owner and range give the same answer anyway; the
  // duplicate-request cache would only hand back a stale DENIED after the holder went away.
  LOCK: { proc: NlmProc.LOCK, args: nlm4Lockargs, res: nlm4Res, idempotent: true },
  CANCEL: { proc: NlmProc.CANCEL, args: nlm4Cancargs, res: nlm4Res, idempotent: true },
  UNLOCK: { proc: NlmProc.UNLOCK, args: nlm4Unlockargs, res: nlm4Res, idempotent: true },
  GRANTED: { proc: NlmProc.GRANTED, args: nlm4Testargs, res: nlm4Res, idempotent: true },
  FREE_ALL: { proc: NlmProc.FREE_ALL, args: nlm4Notify, res: xvoid, idempotent: true },
});
