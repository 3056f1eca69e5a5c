// Credential checks for the flavors the server accepts (AUTH_NONE and AUTH_SYS), with the
// auth_stat a refusal carries. Like knfsd: an unknown flavor or a malformed body is BADCRED, and
// both flavors require an empty AUTH_NONE verifier.

import { AuthFlavor, AuthStat, parseAuthSys } from '../../protocol/rpc.js';
import type { OpaqueAuth } from '../../protocol/rpc.js';
import type { CallCredentials } from './program.js';

export type CredentialCheck =
  | { readonly ok: true; readonly cred: CallCredentials }
  | { readonly ok: false; readonly authStat: AuthStat };

export function checkCredentials(cred: OpaqueAuth, verf: OpaqueAuth): CredentialCheck {
  let checked: CallCredentials;
  if (cred.flavor === AuthFlavor.AUTH_NONE) {
    if (cred.body.length !== 0) return { ok: false, authStat: AuthStat.AUTH_BADCRED };
    checked = { flavor: AuthFlavor.AUTH_NONE };
  } else if (cred.flavor === AuthFlavor.AUTH_SYS) {
    try {
      checked = { flavor: AuthFlavor.AUTH_SYS, sys: parseAuthSys(cred) };
    } catch {
      return { ok: false, authStat: AuthStat.AUTH_BADCRED };
    }
  } else {
    return { ok: false, authStat: AuthStat.AUTH_BADCRED };
  }
  if (verf.flavor !== AuthFlavor.AUTH_NONE || verf.body.length !== 0) {
    return { ok: false, authStat: AuthStat.AUTH_BADVERF };
  }
  return { ok: true, cred: checked };
}
