// Who may call: the admission policy `s3nfs serve` installs in the RPC server. Two rules, checked
// in this order, each refusal logged once per client address with its reason:
// 1. --allow-client: clients outside the listed ranges (loopback is always in) get nothing.
// 2. Privileged source port (unless --insecure): only root can bind a port below 1024, so such a
//    port vouches for the client's AUTH_SYS identity. NULL pings, portmap lookups and the export
//    list (showmount -e) reveal nothing and tools send them from any port, so they are exempt.
// Refusals are AUTH_ERROR(AUTH_TOOWEAK), which the Linux client reports as "access denied".

import { MOUNT_PROGRAM, MountProc } from '../../protocol/mount.js';
import { PMAP_PROGRAM } from '../../protocol/portmap.js';
import { AuthStat } from '../../protocol/rpc.js';
import { OncePerKeyWarning, type LogSink } from '../log/logger.js';
import { PRIVILEGED_PORT_LIMIT } from '../server/admission.js';
import type { AdmissionDecision, AdmissionPolicy, CallInfo } from '../server/admission.js';
import type { ClientAllowList } from './client-addresses.js';

export type RefusalReason = 'insecure_port' | 'not_allowed';

export interface AdmissionOptions {
  /** Accept calls from any source port. */
  readonly insecure: boolean;
  /** Absent: every address may call (listening on loopback only). */
  readonly allowList?: ClientAllowList;
  /** Counts refusals (metrics). */
  readonly onRefused?: (reason: RefusalReason) => void;
  /** Sees every call that is let in (who is connected, for `s3nfs status`). */
  readonly onAdmitted?: (call: CallInfo) => void;
}

const ADMIT: AdmissionDecision = Object.freeze({ admit: true });
const REFUSE: AdmissionDecision = Object.freeze({ admit: false, authStat: AuthStat.AUTH_TOOWEAK });

/** Calls answered from any source port: they reveal nothing a port scan would not. */
export function exemptFromPortCheck(call: CallInfo): boolean {
  return (
    call.procedure === 0 ||
    call.program === PMAP_PROGRAM ||
    (call.program === MOUNT_PROGRAM && call.procedure === MountProc.EXPORT)
  );
}

/**
 * The policy for the given options, or undefined when it would admit everything and observe
 * nothing (--insecure, no allow-list, no observers).
 */
export function serveAdmission(
  insecure: boolean,
  logger: LogSink,
  options: Omit<AdmissionOptions, 'insecure'> = {},
): AdmissionPolicy | undefined {
  const { allowList, onRefused, onAdmitted } = options;
  if (insecure && !allowList && !onAdmitted) return undefined;
  // Once per address for as long as it is remembered (the newest 1024 addresses).
  const refusals = new OncePerKeyWarning(logger, Number.POSITIVE_INFINITY);
  return (call) => {
    const client = call.client.address;
    if (allowList && !allowList.allows(client)) {
      refusals.warn(`allow:${client}`, 'refusing a client that --allow-client does not list', {
        client,
        port: call.client.port,
        reason: 'not_allowed',
      });
      onRefused?.('not_allowed');
      return REFUSE;
    }
    if (!insecure && call.client.port >= PRIVILEGED_PORT_LIMIT && !exemptFromPortCheck(call)) {
      refusals.warn(`port:${client}`, 'refusing calls from a non-privileged source port (client must use a port < 1024, or serve with --insecure)', {
        client,
        port: call.client.port,
        program: call.program,
        procedure: call.procedure,
        reason: 'insecure_port',
      });
      onRefused?.('insecure_port');
      return REFUSE;
    }
    onAdmitted?.(call);
    return ADMIT;
  };
}
