// A handler throws CallRefused to answer with an RPC-level error instead of results, e.g. an
// AUTH_ERROR when an export demands a stronger flavor. Other exceptions become SYSTEM_ERR.

import type { AuthStat } from '../../protocol/rpc.js';

export type Refusal =
  | { readonly kind: 'garbage-args' }
  | { readonly kind: 'system-err' }
  | { readonly kind: 'auth-error'; readonly authStat: AuthStat };

export class CallRefused extends Error {
  constructor(
    readonly refusal: Refusal,
    message = refusal.kind,
  ) {
    super(message);
    this.name = 'CallRefused';
  }
}
