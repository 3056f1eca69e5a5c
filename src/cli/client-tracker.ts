// Who has been calling, for `s3nfs status`: per client address the number of calls admitted and
// when the last one came. Bounded: the least recently seen addresses are forgotten first.

import type { CallInfo } from '../server/admission.js';

export interface ClientActivity {
  readonly address: string;
  readonly calls: number;
  readonly lastCallAt: Date;
}

export class ClientTracker {
  private readonly seen = new Map<string, { calls: number; last: number }>();
  /** The address recorded last: the map's last key. */
  private newest: string | undefined;

  constructor(
    private readonly maxClients = 256,
    private readonly now: () => number = Date.now,
  ) {}

  record(call: Pick<CallInfo, 'client'>): void {
    const address = call.client.address;
    const entry = this.seen.get(address);
    if (entry && address === this.newest) {
      // Already the most recently seen (the usual case: one client), so it stays where it is.
      entry.calls++;
      entry.last = this.now();
      return;
    }
    // Re-inserting keeps the map ordered from least to most recently seen.
    if (entry) this.seen.delete(address);
    this.seen.set(address, { calls: (entry?.calls ?? 0) + 1, last: this.now() });
    this.newest = address;
    if (this.seen.size > this.maxClients) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
  }

  /** Most recently seen first. */
  list(): ClientActivity[] {
    return [...this.seen]
      .reverse()
      .map(([address, e]) => ({ address, calls: e.calls, lastCallAt: new Date(e.last) }));
  }
}
