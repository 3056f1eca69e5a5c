// rpcbind, versions 3 and 4 (RFC 1833 section 2): program 100000 spoken with universal
// addresses instead of ports. Clients (mount.nfs, the kernel) ask these versions first and fall
// back to portmap version 2; the codecs are here so captured traffic decodes and a server could
// answer them.

import { bool, fixedArray, int32, list, opaque, string, struct, uint32, xvoid } from './xdr.js';
import type { Infer } from './xdr.js';
import { programCodecs } from './program.js';
import { PMAP_PROGRAM } from './portmap.js';

export const RPCBIND_V3 = 3;
export const RPCBIND_V4 = 4;

export const RpcbProc = {
  NULL: 0,
  SET: 1,
  UNSET: 2,
  GETADDR: 3,
  DUMP: 4,
  /** CALLIT in version 3. */
  BCAST: 5,
  GETTIME: 6,
  UADDR2TADDR: 7,
  TADDR2UADDR: 8,
  GETVERSADDR: 9,
  INDIRECT: 10,
  GETADDRLIST: 11,
  GETSTAT: 12,
} as const;

/** RFC 1833 leaves these strings and opaques unbounded; these are the bounds we accept. */
export const RPCB_MAX_STRING = 1024;
export const RPCB_MAX_OPAQUE = 65536;
export const RPCB_MAX_LIST = 1 << 16;
/** rpcbs_proc is int[RPCBSTAT_HIGHPROC]; rpcb_stat_byvers is rpcb_stat[RPCBVERS_STAT]. */
export const RPCBSTAT_HIGHPROC = 13;
export const RPCBVERS_STAT = 3;

const rpcbString = string(RPCB_MAX_STRING);
const rpcbOpaque = opaque(RPCB_MAX_OPAQUE);

/** rpcb: a registration; `addr` is a universal address such as "127.0.0.1.8.1" (port 2049). */
export const rpcb = struct({ prog: uint32, vers: uint32, netid: rpcbString, addr: rpcbString, owner: rpcbString });
export type Rpcb = Infer<typeof rpcb>;
export const rpcbList = list(rpcb, RPCB_MAX_LIST);

export const rpcbRmtcallargs = struct({ prog: uint32, vers: uint32, proc: uint32, args: rpcbOpaque });
export const rpcbRmtcallres = struct({ addr: rpcbString, results: rpcbOpaque });

export const netbuf = struct({ maxlen: uint32, buf: rpcbOpaque });

export const rpcbEntry = struct({
  maddr: rpcbString,
  ncNetid: rpcbString,
  ncSemantics: uint32,
  ncProtofmly: rpcbString,
  ncProto: rpcbString,
});
export const rpcbEntryList = list(rpcbEntry, RPCB_MAX_LIST);

const rpcbsAddr = struct({ prog: uint32, vers: uint32, success: int32, failure: int32, netid: rpcbString });
const rpcbsRmtcall = struct({
  prog: uint32,
  vers: uint32,
  proc: uint32,
  success: int32,
  failure: int32,
  indirect: int32,
  netid: rpcbString,
});
export const rpcbStat = struct({
  info: fixedArray(int32, RPCBSTAT_HIGHPROC),
  setinfo: int32,
  unsetinfo: int32,
  addrinfo: list(rpcbsAddr, RPCB_MAX_LIST),
  rmtinfo: list(rpcbsRmtcall, RPCB_MAX_LIST),
});
export const rpcbStatByvers = fixedArray(rpcbStat, RPCBVERS_STAT);

const common = {
  NULL: { proc: RpcbProc.NULL, args: xvoid, res: xvoid, idempotent: true },
  SET: { proc: RpcbProc.SET, args: rpcb, res: bool, idempotent: false },
  UNSET: { proc: RpcbProc.UNSET, args: rpcb, res: bool, idempotent: false },
  /** The universal address, or "" when the program is not registered. */
  GETADDR: { proc: RpcbProc.GETADDR, args: rpcb, res: rpcbString, idempotent: true },
  DUMP: { proc: RpcbProc.DUMP, args: xvoid, res: rpcbList, idempotent: true },
  GETTIME: { proc: RpcbProc.GETTIME, args: xvoid, res: uint32, idempotent: true },
  UADDR2TADDR: { proc: RpcbProc.UADDR2TADDR, args: rpcbString, res: netbuf, idempotent: true },
  TADDR2UADDR: { proc: RpcbProc.TADDR2UADDR, args: netbuf, res: rpcbString, idempotent: true },
} as const;

export const RPCB3 = programCodecs('rpcbind', PMAP_PROGRAM, RPCBIND_V3, {
  ...common,
  CALLIT: { proc: RpcbProc.BCAST, args: rpcbRmtcallargs, res: rpcbRmtcallres, idempotent: false },
});

export const RPCB4 = programCodecs('rpcbind', PMAP_PROGRAM, RPCBIND_V4, {
  ...common,
  BCAST: { proc: RpcbProc.BCAST, args: rpcbRmtcallargs, res: rpcbRmtcallres, idempotent: false },
  GETVERSADDR: { proc: RpcbProc.GETVERSADDR, args: rpcb, res: rpcbString, idempotent: true },
  INDIRECT: { proc: RpcbProc.INDIRECT, args: rpcbRmtcallargs, res: rpcbRmtcallres, idempotent: false },
  GETADDRLIST: { proc: RpcbProc.GETADDRLIST, args: rpcb, res: rpcbEntryList, idempotent: true },
  GETSTAT: { proc: RpcbProc.GETSTAT, args: xvoid, res: rpcbStatByvers, idempotent: true },
});
