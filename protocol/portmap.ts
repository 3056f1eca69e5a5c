// The port mapper, version 2 (RFC 1833 section 3): maps (program, version, protocol) to a port.

import { bool, list, opaque, struct, uint32, xvoid } from './xdr.js';
import type { Infer } from './xdr.js';
import { programCodecs } from './program.js';

export const PMAP_PROGRAM = 100000;
export const PMAP_V2 = 2;
export const PMAP_PORT = 111;

export const PmapProc = { NULL: 0, SET: 1, UNSET: 2, GETPORT: 3, DUMP: 4, CALLIT: 5 } as const;
export type PmapProc = (typeof PmapProc)[keyof typeof PmapProc];

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** Bound on mappings decoded from a DUMP reply. */
export const PMAP_MAX_MAPPINGS = 1 << 16;
/** Bound on CALLIT's opaque arguments/results (a UDP datagram's worth). */
export const PMAP_MAX_CALLIT_BYTES = 65536;

export const mapping = struct({ prog: uint32, vers: uint32, prot: uint32, port: uint32 });
export type Mapping = Infer<typeof mapping>;

export const pmapList = list(mapping, PMAP_MAX_MAPPINGS);

export const callArgs = struct({ prog: uint32, vers: uint32, proc: uint32, args: opaque(PMAP_MAX_CALLIT_BYTES) });
export type CallArgs = Infer<typeof callArgs>;
export const callResult = struct({ port: uint32, res: opaque(PMAP_MAX_CALLIT_BYTES) });
export type CallResult = Infer<typeof callResult>;

export const PMAP2 = programCodecs('portmapper', PMAP_PROGRAM, PMAP_V2, {
  NULL: { proc: PmapProc.NULL, args: xvoid, res: xvoid, idempotent: true },
  SET: { proc: PmapProc.SET, args: mapping, res: bool, idempotent: false },
  UNSET: { proc: PmapProc.UNSET, args: mapping, res: bool, idempotent: false },
  /** The port, or 0 when the program is not registered. */
  GETPORT: { proc: PmapProc.GETPORT, args: mapping, res: uint32, idempotent: true },
  DUMP: { proc: PmapProc.DUMP, args: xvoid, res: pmapList, idempotent: true },
  /** Servers may answer PROC_UNAVAIL: forwarding calls is an amplification risk. */
  CALLIT: { proc: PmapProc.CALLIT, args: callArgs, res: callResult, idempotent: false },
});
