// Call admission: a hook that may refuse a call (with AUTH_ERROR) after its credentials are
// checked and before it is dispatched. The core admits everything unless given a policy.

import { LRUCache } from 'lru-cache';
import { AuthStat } from '../../protocol/rpc.js';
import type { Logger } from './logger.js';
import type { CallCredentials, ClientAddress } from './program.js';

export interface CallInfo {
  readonly xid: number;
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  readonly client: ClientAddress;
  readonly connectionId: number;
  readonly cred: CallCredentials;
}

export type AdmissionDecision = { readonly admit: true } | { readonly admit: false; readonly authStat: AuthStat };

export type AdmissionPolicy = (call: CallInfo) => AdmissionDecision;

const ADMIT: AdmissionDecision = Object.freeze({ admit: true });

/** Only root can bind a port below 1024, so such a source port vouches for the client's AUTH_SYS. */
export const PRIVILEGED_PORT_LIMIT = 1024;

export interface PrivilegedPortOptions {
  readonly logger: Logger;
  /** Calls this returns true for are admitted from any port (e.g. NULL pings). */
  readonly exempt?: (call: CallInfo) => boolean;
  /** How many refused client addresses to remember, so each is logged once. */
  readonly rememberRefused?: number;
}

/**
 * Refuses calls from non-privileged source ports with AUTH_TOOWEAK, as knfsd's `secure` export
 * option does; each refused client address is logged once (while remembered).
 */
export function requirePrivilegedPort(options: PrivilegedPortOptions): AdmissionPolicy {
  const logged = new LRUCache<string, true>({ max: options.rememberRefused ?? 1024 });
  return (call) => {
    if (call.client.port < PRIVILEGED_PORT_LIMIT) return ADMIT;
    if (options.exempt?.(call)) return ADMIT;
    if (!logged.has(call.client.address)) {
      logged.set(call.client.address, true);
      options.logger.warn('refusing calls from a non-privileged source port (client must use a port < 1024)', {
        client: call.client.address,
        port: call.client.port,
        program: call.program,
        procedure: call.procedure,
      });
    }
    return { admit: false, authStat: AuthStat.AUTH_TOOWEAK };
  };
}
