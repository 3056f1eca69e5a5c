// The Network Status Monitor, version 1 (X/Open XNFS, chapter 11): how hosts tell each other that
// they restarted. A client's sm-notify sends SM_NOTIFY to every server it held locks on, so the
// server can drop the locks of the client's previous life.

import { int32, string, struct, xvoid } from './xdr.js';
import type { Infer } from './xdr.js';
import { programCodecs } from './program.js';

export const NSM_PROGRAM = 100024;
export const NSM_V1 = 1;
export const SM_MAXSTRLEN = 1024;

export const NsmProc = { NULL: 0, NOTIFY: 6 } as const;

/** stat_chge: who restarted (its name) and its new state number. */
export const statChge = struct({ monName: string(SM_MAXSTRLEN), state: int32 });
export type StatChge = Infer<typeof statChge>;

export const NSM1 = programCodecs('status', NSM_PROGRAM, NSM_V1, {
  NULL: { proc: NsmProc.NULL, args: xvoid, res: xvoid, idempotent: true },
  NOTIFY: { proc: NsmProc.NOTIFY, args: statChge, res: xvoid, idempotent: true },
});
