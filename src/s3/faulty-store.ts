// Wraps any ObjectStore and makes it misbehave on purpose: errors by API, key, count or (seeded)
// probability, failures after the request took effect (a lost reply), latency, and hooks that run
// around calls so a test can change or delete an object between two requests of one operation.

import {
  ObjectStoreError,
  type CompletedPart,
  type GetRequest,
  type GetResult,
  type ListPage,
  type ListRequest,
  type MemoryAccount,
  type MultipartUploadInfo,
  type ObjectInfo,
  type ObjectStore,
  type ObjectStoreErrorKind,
  type PutRequest,
  type PutResult,
} from './object-store.js';
import { callKey, describeGet, describePut, type ObjectStoreApi, type StoreCall } from './store-call.js';

export interface FaultRule {
  /** The APIs this rule applies to; all when omitted. */
  api?: ObjectStoreApi | readonly ObjectStoreApi[];
  /** The key (the destination for copies) the call must act on. */
  key?: string | RegExp;
  /** Any further condition on the call. */
  match?: (call: StoreCall) => boolean;
  /** What to throw: a kind (makes an ObjectStoreError), or a factory for any error. */
  error: ObjectStoreErrorKind | ((call: StoreCall) => Error);
  /** Let this many matching calls through before the rule starts firing. Default 0. */
  skip?: number;
  /** Fire at most this many times. Default: every matching call. */
  times?: number;
  /** Fire with this probability (0..1), drawn from the store's seeded generator. Default 1. */
  probability?: number;
  /**
   * 'before' (default): the call never reaches the inner store.
   * 'after': the inner call runs and takes effect, then the error replaces its reply (a lost response).
   */
  when?: 'before' | 'after';
}

export interface FaultHandle {
  /** How many times the rule has fired. */
  readonly fired: number;
  remove(): void;
}

export type CallHook = (call: StoreCall) => void | Promise<void>;

export interface FaultInjectingOptions {
  /** Seed for probability rules, so a failing run can be replayed. Default 1. */
  seed?: number;
  /** Delay before each call reaches the inner store, in milliseconds. */
  latencyMs?: number | ((call: StoreCall) => number);
}

interface ActiveRule {
  rule: FaultRule;
  seen: number;
  fired: number;
}

export class FaultInjectingObjectStore implements ObjectStore {
  private readonly rules: ActiveRule[] = [];
  private readonly beforeHooks: CallHook[] = [];
  private readonly afterHooks: CallHook[] = [];
  private readonly random: () => number;
  private latency: FaultInjectingOptions['latencyMs'];
  private firedTotal = 0;

  constructor(
    readonly inner: ObjectStore,
    options: FaultInjectingOptions = {},
  ) {
    this.random = mulberry32(options.seed ?? 1);
    this.latency = options.latencyMs;
  }

  /** Adds a rule; rules are checked in the order they were added and the first that fires wins. */
  inject(rule: FaultRule): FaultHandle {
    const active: ActiveRule = { rule, seen: 0, fired: 0 };
    this.rules.push(active);
    const rules = this.rules;
    return {
      get fired() {
        return active.fired;
      },
      remove() {
        const i = rules.indexOf(active);
        if (i >= 0) rules.splice(i, 1);
      },
    };
  }

  /** Shorthand: the next `times` calls of `api` fail with `kind`. */
  failNext(api: ObjectStoreApi, kind: ObjectStoreErrorKind, times = 1): FaultHandle {
    return this.inject({ api, error: kind, times });
  }

  clearFaults(): void {
    this.rules.length = 0;
  }

  setLatency(latencyMs: FaultInjectingOptions['latencyMs']): void {
    this.latency = latencyMs;
  }

  /** Runs `hook` before every call reaches the inner store (after latency). Returns an unsubscribe. */
  beforeCall(hook: CallHook): () => void {
    return addHook(this.beforeHooks, hook);
  }

  /** Runs `hook` after every call the inner store answered successfully. Returns an unsubscribe. */
  afterCall(hook: CallHook): () => void {
    return addHook(this.afterHooks, hook);
  }

  /** Runs `hook` once, before the next call of `api` (matching `key` when given). */
  onceBefore(api: ObjectStoreApi, hook: CallHook, key?: string): void {
    const off = this.beforeCall(async (call) => {
      if (call.api !== api || (key !== undefined && callKey(call) !== key)) return;
      off();
      await hook(call);
    });
  }

  /** Total injected failures so far. */
  get injected(): number {
    return this.firedTotal;
  }

  // ---- ObjectStore --------------------------------------------------------------------------

  checkBucket(): Promise<void> {
    return this.run({ api: 'checkBucket' }, () => this.inner.checkBucket());
  }

  list(req: ListRequest): Promise<ListPage> {
    return this.run({ api: 'list', req: { ...req } }, () => this.inner.list(req));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.run({ api: 'head', key }, () => this.inner.head(key));
  }

  get(req: GetRequest): Promise<GetResult> {
    return this.run({ api: 'get', req: describeGet(req) }, () => this.inner.get(req), req.signal);
  }

  recycle(body: Buffer): void {
    this.inner.recycle?.(body);
  }

  holdRecycledIn(account: MemoryAccount): void {
    this.inner.holdRecycledIn?.(account);
  }

  put(req: PutRequest): Promise<PutResult> {
    return this.run({ api: 'put', req: describePut(req) }, () => this.inner.put(req));
  }

  delete(key: string): Promise<void> {
    return this.run({ api: 'delete', key }, () => this.inner.delete(key));
  }

  copy(sourceKey: string, destKey: string, sourceEtag?: string): Promise<PutResult> {
    const call: StoreCall = { api: 'copy', sourceKey, destKey };
    if (sourceEtag !== undefined) call.sourceEtag = sourceEtag;
    return this.run(call, () => this.inner.copy(sourceKey, destKey, sourceEtag));
  }

  createMultipartUpload(key: string): Promise<string> {
    return this.run({ api: 'createMultipartUpload', key }, () => this.inner.createMultipartUpload(key));
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, bodySha256?: string): Promise<CompletedPart> {
    return this.run({ api: 'uploadPart', key, uploadId, partNumber, size: body.length }, () =>
      this.inner.uploadPart(key, uploadId, partNumber, body, bodySha256),
    );
  }

  uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    sourceKey: string,
    range: { start: number; end: number },
    sourceEtag?: string,
  ): Promise<CompletedPart> {
    const call: StoreCall = { api: 'uploadPartCopy', key, uploadId, partNumber, sourceKey, range: { ...range } };
    if (sourceEtag !== undefined) call.sourceEtag = sourceEtag;
    return this.run(call, () => this.inner.uploadPartCopy(key, uploadId, partNumber, sourceKey, range, sourceEtag));
  }

  completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<PutResult> {
    return this.run({ api: 'completeMultipartUpload', key, uploadId, parts: parts.map((p) => ({ ...p })) }, () =>
      this.inner.completeMultipartUpload(key, uploadId, parts),
    );
  }

  abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    return this.run({ api: 'abortMultipartUpload', key, uploadId }, () =>
      this.inner.abortMultipartUpload(key, uploadId),
    );
  }

  listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    return this.run({ api: 'listMultipartUploads', prefix }, () => this.inner.listMultipartUploads(prefix));
  }

  // ---- internals ----------------------------------------------------------------------------

  private async run<T>(call: StoreCall, send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const delay = typeof this.latency === 'function' ? this.latency(call) : (this.latency ?? 0);
    if (delay > 0) await sleep(delay, signal);
    for (const hook of [...this.beforeHooks]) await hook(call);
    const early = this.pick(call, 'before');
    if (early) throw early;
    const result = await send();
    const late = this.pick(call, 'after');
    if (late) throw late;
    for (const hook of [...this.afterHooks]) await hook(call);
    return result;
  }

  private pick(call: StoreCall, when: 'before' | 'after'): Error | undefined {
    for (const active of this.rules) {
      const { rule } = active;
      if ((rule.when ?? 'before') !== when || !matches(rule, call)) continue;
      active.seen++;
      if (active.seen <= (rule.skip ?? 0)) continue;
      if (rule.times !== undefined && active.fired >= rule.times) continue;
      if (rule.probability !== undefined && !(this.random() < rule.probability)) continue;
      active.fired++;
      this.firedTotal++;
      return typeof rule.error === 'function'
        ? rule.error(call)
        : new ObjectStoreError(rule.error, `injected ${rule.error} on ${call.api}${describeKey(call)}`, {
            code: 'Injected',
          });
    }
    return undefined;
  }
}

function matches(rule: FaultRule, call: StoreCall): boolean {
  if (rule.api !== undefined) {
    const apis: readonly ObjectStoreApi[] = typeof rule.api === 'string' ? [rule.api] : rule.api;
    if (!apis.includes(call.api)) return false;
  }
  if (rule.key !== undefined) {
    const key = callKey(call);
    if (key === undefined) return false;
    if (typeof rule.key === 'string' ? key !== rule.key : !rule.key.test(key)) return false;
  }
  return rule.match === undefined || rule.match(call);
}

function describeKey(call: StoreCall): string {
  const key = callKey(call);
  return key === undefined ? '' : ` ${JSON.stringify(key)}`;
}

function addHook(list: CallHook[], hook: CallHook): () => void {
  list.push(hook);
  return () => {
    const i = list.indexOf(hook);
    if (i >= 0) list.splice(i, 1);
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A small seeded PRNG (mulberry32): reproducible fault patterns without a dependency. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
