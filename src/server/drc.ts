// Duplicate-request cache (RFC 1813 §4.10 / knfsd's reply cache): a retransmitted
// non-idempotent call must get the reply of the first execution, not run again (a repeated
// REMOVE would fail with NOENT, a repeated CREATE with EXIST). The Linux client retransmits after
// a reconnect, often from a new source port, so entries are keyed by the client's IP address.

import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export interface DrcOptions {
  /** Completed replies kept at most. */
  readonly maxEntries?: number;
  /** Bytes of completed replies kept at most. */
  readonly maxBytes?: number;
  /** How long a completed reply is kept, in milliseconds. */
  readonly ttlMs?: number;
}

export interface DrcKeyParts {
  readonly clientAddress: string;
  readonly xid: number;
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  /** The encoded arguments (only a prefix is hashed). */
  readonly args: Buffer;
}

/**
 * Like knfsd, only a prefix of the arguments is hashed (plus their length): with the client
 * address, xid and procedure already equal, that tells retransmissions from xid reuse, and a
 * 1 MiB WRITE is not hashed in full on every call.
 */
const HASHED_ARG_BYTES = 256;
/** Per-entry bookkeeping counted against maxBytes besides the reply itself. */
const ENTRY_OVERHEAD = 128;

export function drcKey(p: DrcKeyParts): string {
  const digest = createHash('sha1').update(p.args.subarray(0, HASHED_ARG_BYTES)).digest('base64');
  return `${p.clientAddress}/${p.xid}/${p.program}/${p.version}/${p.procedure}/${p.args.length}/${digest}`;
}

export interface DrcLookup {
  readonly reply: Promise<Buffer>;
  /** 'new' ran the call; 'in-progress' joined a running one; 'completed' came from the cache. */
  readonly source: 'new' | 'in-progress' | 'completed';
}

export class DuplicateRequestCache {
  private readonly running = new Map<string, Promise<Buffer>>();
  private readonly done: LRUCache<string, Buffer>;

  constructor(options: DrcOptions = {}) {
    this.done = new LRUCache<string, Buffer>({
      max: options.maxEntries ?? 8192,
      maxSize: options.maxBytes ?? 16 * 1024 * 1024,
      sizeCalculation: (b) => b.length + ENTRY_OVERHEAD,
      ttl: options.ttlMs ?? 10 * 60 * 1000,
    });
  }

  /** Completed entries currently held. */
  get size(): number {
    return this.done.size;
  }

  get runningCount(): number {
    return this.running.size;
  }

  /**
   * Returns the reply for `key`: the cached one, the one a running execution will produce, or
   * the result of `execute` (whose reply is then cached). `execute` must not reject with an
   * error it expects to be cached: a rejection is passed on and nothing is remembered.
   */
  lookup(key: string, execute: () => Promise<Buffer[]>): DrcLookup {
    const cached = this.done.get(key);
    if (cached) return { reply: Promise.resolve(cached), source: 'completed' };
    const running = this.running.get(key);
    if (running) return { reply: running, source: 'in-progress' };
    const reply = execute().then(
      (parts) => {
        const compact = compactCopy(parts);
        this.running.delete(key);
        this.done.set(key, compact);
        return compact;
      },
      (err: unknown) => {
        this.running.delete(key);
        throw err;
      },
    );
    this.running.set(key, reply);
    return { reply, source: 'new' };
  }
}

/** One exactly-sized buffer, so a cached reply does not pin the writer's larger chunks. */
function compactCopy(parts: readonly Buffer[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = Buffer.allocUnsafeSlow(n);
  let off = 0;
  for (const p of parts) {
    p.copy(out, off);
    off += p.length;
  }
  return out;
}
