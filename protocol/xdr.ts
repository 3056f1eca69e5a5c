// XDR (RFC 4506): a cursor reader, a gathering writer, and codec combinators so each
// wire structure is declared once and gets both directions from that declaration.
//
// Zero-copy rules: the reader returns opaque data as subarrays of its input; the writer keeps
// large opaque payloads by reference (see XdrWriter.toBuffers) so READ replies go to the socket
// without being copied into a bigger buffer.

import { isUtf8 } from 'node:buffer';

/**
 * Why bytes could not be decoded (or a value encoded): `short` input ended early, `limit` a length
 * or count is over its bound, `invalid` a discriminant/enum/bool/UTF-8 value is not allowed,
 * `trailing` bytes were left after a value that should have consumed its input.
 */
export type XdrErrorKind = 'short' | 'limit' | 'invalid' | 'trailing';

export class XdrError extends Error {
  readonly kind: XdrErrorKind;

  constructor(message: string, kind: XdrErrorKind = 'invalid') {
    super(message);
    this.name = 'XdrError';
    this.kind = kind;
  }

  /**
   * An error in bytes being decoded, made without a stack trace: capturing one costs more than
   * the whole decode, bad input is routine (a hostile or confused peer), and the message says
   * where in the input the problem is.
   */
  static decoding(message: string, kind: XdrErrorKind = 'invalid'): XdrError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new XdrError(message, kind);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

/** Padding of 0 to 3 zero bytes, made once (a subarray per payload would cost ~0.2 µs). */
const PADS = [0, 1, 2, 3].map((n) => Buffer.alloc(n));

// Buffer's 64-bit accessors cost ~100 ns a call in Node 20 (they split the bigint with bigint
// arithmetic); a DataView on an 8-byte scratch area converts in a fraction of that, and creating
// a DataView per buffer costs more than it saves. scripts/bench/fattr3.ts measures this.
const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

/** Writes a big-endian uint32 (the value is taken modulo 2^32). */
export function putUint32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

function putScratch(b: Uint8Array, at: number): void {
  const s = scratchBytes;
  b[at] = s[0]!;
  b[at + 1] = s[1]!;
  b[at + 2] = s[2]!;
  b[at + 3] = s[3]!;
  b[at + 4] = s[4]!;
  b[at + 5] = s[5]!;
  b[at + 6] = s[6]!;
  b[at + 7] = s[7]!;
}

function getScratch(b: Uint8Array, at: number): void {
  const s = scratchBytes;
  s[0] = b[at]!;
  s[1] = b[at + 1]!;
  s[2] = b[at + 2]!;
  s[3] = b[at + 3]!;
  s[4] = b[at + 4]!;
  s[5] = b[at + 5]!;
  s[6] = b[at + 6]!;
  s[7] = b[at + 7]!;
}

/** Writes a big-endian uint64 (the value is taken modulo 2^64). */
export function putUint64(b: Uint8Array, at: number, v: bigint): void {
  scratch.setBigUint64(0, v);
  putScratch(b, at);
}

export function putInt64(b: Uint8Array, at: number, v: bigint): void {
  scratch.setBigInt64(0, v);
  putScratch(b, at);
}

/** Reads a big-endian uint32. */
export function getUint32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Reads a big-endian uint64. */
export function getUint64(b: Uint8Array, at: number): bigint {
  getScratch(b, at);
  return scratch.getBigUint64(0);
}

export function getInt64(b: Uint8Array, at: number): bigint {
  getScratch(b, at);
  return scratch.getBigInt64(0);
}

function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}

export class XdrReader {
  offset: number;
  readonly end: number;

  constructor(
    readonly buf: Buffer,
    offset = 0,
    end = buf.length,
  ) {
    this.offset = offset;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number): void {
    if (n > this.end - this.offset) {
      throw XdrError.decoding(`need ${n} bytes at offset ${this.offset}, have ${this.end - this.offset}`, 'short');
    }
  }

  /**
   * Claims the next `n` bytes for a specialized decoder, which reads them from `buf` starting at
   * the returned offset (e.g. fattr3, one bounds check instead of twenty).
   */
  take(n: number): number {
    this.need(n);
    const at = this.offset;
    this.offset += n;
    return at;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint64(): bigint {
    this.need(8);
    const v = getUint64(this.buf, this.offset);
    this.offset += 8;
    return v;
  }

  int64(): bigint {
    this.need(8);
    const v = getInt64(this.buf, this.offset);
    this.offset += 8;
    return v;
  }

  bool(): boolean {
    const v = this.uint32();
    if (v > 1) throw XdrError.decoding(`bad bool ${v}`);
    return v === 1;
  }

  /** Fixed-length opaque: a subarray of the input, never a copy. */
  opaqueFixed(n: number): Buffer {
    const p = pad4(n);
    this.need(n + p);
    const start = this.offset;
    const out = this.buf.subarray(start, start + n);
    // Non-zero padding is refused so that every accepted input re-encodes to the same bytes.
    for (let i = start + n; i < start + n + p; i++) {
      if (this.buf[i] !== 0) throw XdrError.decoding(`non-zero padding at offset ${i}`);
    }
    this.offset = start + n + p;
    return out;
  }

  /** Variable-length opaque, its length checked against `max` and the remaining bytes first. */
  opaqueVar(max: number): Buffer {
    const n = this.uint32();
    if (n > max) throw XdrError.decoding(`opaque length ${n} exceeds limit ${max}`, 'limit');
    return this.opaqueFixed(n);
  }

  /** A string must be valid UTF-8: replacing bad bytes would hand callers a different name. */
  string(max: number): string {
    const b = this.opaqueVar(max);
    if (!isUtf8(b)) throw XdrError.decoding(`string at offset ${this.offset - b.length} is not valid UTF-8`);
    return b.toString('utf8');
  }

  /** Reads an array count, rejecting counts that could not fit in the remaining bytes. */
  count(max: number, minItemBytes = 4): number {
    const n = this.uint32();
    if (n > max) throw XdrError.decoding(`array length ${n} exceeds limit ${max}`, 'limit');
    if (n * minItemBytes > this.end - this.offset) {
      throw XdrError.decoding(`array length ${n} cannot fit in ${this.end - this.offset} bytes`, 'short');
    }
    return n;
  }
}

/** Payloads at least this long are kept by reference instead of copied into the writer's chunk. */
const BY_REFERENCE_MIN = 1024;
const CHUNK = 4096;
/**
 * Most replies are a few hundred bytes; a first chunk under 4 KiB comes from Node's shared buffer
 * pool (~0.2 µs) instead of its own allocation (~1.5 µs).
 */
const FIRST_CHUNK = 1024;

export class XdrWriter {
  private chunks: Buffer[] = [];
  private cur: Buffer;
  private pos = 0;
  private flushedBytes = 0;

  constructor(initial = FIRST_CHUNK) {
    this.cur = Buffer.allocUnsafe(initial);
  }

  /** Total bytes written so far. */
  get length(): number {
    return this.flushedBytes + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.flushCurrent();
    this.cur = Buffer.allocUnsafe(Math.max(CHUNK, n));
  }

  private flushCurrent(): void {
    if (this.pos > 0) {
      this.chunks.push(this.cur.subarray(0, this.pos));
      this.flushedBytes += this.pos;
    }
    this.cur = this.cur.subarray(this.pos);
    this.pos = 0;
  }

  uint32(v: number): this {
    this.ensure(4);
    putUint32(this.cur, this.pos, v);
    this.pos += 4;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    putUint32(this.cur, this.pos, v);
    this.pos += 4;
    return this;
  }

  uint64(v: bigint): this {
    this.ensure(8);
    putUint64(this.cur, this.pos, v);
    this.pos += 8;
    return this;
  }

  int64(v: bigint): this {
    this.ensure(8);
    putInt64(this.cur, this.pos, v);
    this.pos += 8;
    return this;
  }

  bool(v: boolean): this {
    return this.uint32(v ? 1 : 0);
  }

  /**
   * Reserves `n` bytes in the current chunk for a specialized encoder, which writes them into
   * `chunk` starting at the returned offset (e.g. fattr3, written on every reply).
   */
  reserve(n: number): number {
    this.ensure(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** The uint32 at byte `offset` of what was written so far, or undefined when fewer bytes follow it. */
  uint32At(offset: number): number | undefined {
    if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + 4 <= this.length)) return undefined;
    let v = 0;
    for (let i = 0; i < 4; i++) v = v * 256 + this.byteAt(offset + i);
    return v;
  }

  private byteAt(offset: number): number {
    let base = 0;
    for (const c of this.chunks) {
      if (offset < base + c.length) return c[offset - base]!;
      base += c.length;
    }
    return this.cur[offset - base]!;
  }

  /** The buffer that `reserve` offsets point into; valid until the next write. */
  get chunk(): Buffer {
    return this.cur;
  }

  /** Fixed-length opaque; `data` must be exactly `n` bytes. */
  opaqueFixed(data: Uint8Array, n = data.length): this {
    if (data.length !== n) throw new XdrError(`fixed opaque needs ${n} bytes, got ${data.length}`);
    const p = pad4(n);
    if (n >= BY_REFERENCE_MIN) {
      this.flushCurrent();
      const b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      this.chunks.push(b);
      this.flushedBytes += n;
      if (p) {
        this.chunks.push(PADS[p]!);
        this.flushedBytes += p;
      }
      return this;
    }
    this.ensure(n + p);
    this.cur.set(data, this.pos);
    this.pos += n;
    for (let i = 0; i < p; i++) this.cur[this.pos++] = 0;
    return this;
  }

  opaqueVar(data: Uint8Array): this {
    this.uint32(data.length);
    return this.opaqueFixed(data);
  }

  string(s: string): this {
    return this.opaqueVar(Buffer.from(s, 'utf8'));
  }

  /** The encoded bytes as a list for writev; payloads appear as the caller's own buffers. */
  toBuffers(): Buffer[] {
    this.flushCurrent();
    return this.chunks;
  }

  /** The encoded bytes in one buffer (copies; for small messages and tests). */
  toBuffer(): Buffer {
    const list = this.toBuffers();
    return list.length === 1 ? list[0]! : Buffer.concat(list, this.flushedBytes);
  }
}

// ---------------------------------------------------------------------------------------------
// Codec combinators

export interface Codec<T> {
  encode(w: XdrWriter, v: T): void;
  decode(r: XdrReader): T;
}

export type Infer<C> = C extends Codec<infer T> ? T : never;

export const xvoid: Codec<void> = {
  encode() {},
  decode() {},
};

export const uint32: Codec<number> = {
  encode: (w, v) => void w.uint32(v),
  decode: (r) => r.uint32(),
};

export const int32: Codec<number> = {
  encode: (w, v) => void w.int32(v),
  decode: (r) => r.int32(),
};

export const uint64: Codec<bigint> = {
  encode: (w, v) => void w.uint64(v),
  decode: (r) => r.uint64(),
};

export const int64: Codec<bigint> = {
  encode: (w, v) => void w.int64(v),
  decode: (r) => r.int64(),
};

export const bool: Codec<boolean> = {
  encode: (w, v) => void w.bool(v),
  decode: (r) => r.bool(),
};

/** An enum: decoding rejects values outside `values`. */
export function enumOf<E extends number>(name: string, values: readonly E[]): Codec<E> {
  const allowed = new Set<number>(values);
  return {
    encode: (w, v) => void w.int32(v),
    decode: (r) => {
      const v = r.int32();
      if (!allowed.has(v)) throw XdrError.decoding(`bad ${name} value ${v}`);
      return v as E;
    },
  };
}

export function opaqueFixed(n: number): Codec<Buffer> {
  return {
    encode: (w, v) => void w.opaqueFixed(v, n),
    decode: (r) => r.opaqueFixed(n),
  };
}

export function opaque(max: number): Codec<Buffer> {
  return {
    encode: (w, v) => {
      if (v.length > max) throw new XdrError(`opaque length ${v.length} exceeds limit ${max}`, 'limit');
      w.opaqueVar(v);
    },
    decode: (r) => r.opaqueVar(max),
  };
}

export function string(max: number): Codec<string> {
  return {
    encode: (w, v) => {
      const b = Buffer.from(v, 'utf8');
      if (b.length > max) throw new XdrError(`string length ${b.length} exceeds limit ${max}`, 'limit');
      w.opaqueVar(b);
    },
    decode: (r) => r.string(max),
  };
}

/** XDR optional data (`*T`): absent is `undefined`. */
export function optional<T>(c: Codec<T>): Codec<T | undefined> {
  return {
    encode: (w, v) => {
      if (v === undefined) {
        w.uint32(0);
      } else {
        w.uint32(1);
        c.encode(w, v);
      }
    },
    decode: (r) => (r.bool() ? c.decode(r) : undefined),
  };
}

/** Variable-length array with a maximum count; `minItemBytes` bounds the count by the input left. */
export function array<T>(c: Codec<T>, max: number, minItemBytes = 4): Codec<T[]> {
  return {
    encode: (w, v) => {
      if (v.length > max) throw new XdrError(`array length ${v.length} exceeds limit ${max}`, 'limit');
      w.uint32(v.length);
      for (const item of v) c.encode(w, item);
    },
    decode: (r) => {
      const n = r.count(max, minItemBytes);
      const out: T[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = c.decode(r);
      return out;
    },
  };
}

/** Fixed-length array (`T name[n]`): exactly `n` items, no count on the wire. */
export function fixedArray<T>(c: Codec<T>, n: number): Codec<T[]> {
  return {
    encode: (w, v) => {
      if (v.length !== n) throw new XdrError(`fixed array needs ${n} items, got ${v.length}`);
      for (const item of v) c.encode(w, item);
    },
    decode: (r) => {
      const out: T[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = c.decode(r);
      return out;
    },
  };
}

/**
 * A linked list as XDR spells it (`entry *next`), e.g. READDIR entries or the portmap dump:
 * a sequence of `TRUE item` followed by `FALSE`. Decoding stops after `max` items.
 */
export function list<T>(c: Codec<T>, max: number): Codec<T[]> {
  return {
    encode: (w, v) => {
      if (v.length > max) throw new XdrError(`list length ${v.length} exceeds limit ${max}`, 'limit');
      for (const item of v) {
        w.uint32(1);
        c.encode(w, item);
      }
      w.uint32(0);
    },
    decode: (r) => {
      const out: T[] = [];
      while (r.bool()) {
        if (out.length >= max) throw XdrError.decoding(`list longer than ${max}`, 'limit');
        out.push(c.decode(r));
      }
      return out;
    },
  };
}

type Fields = Record<string, Codec<unknown>>;
type StructOf<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

/** A struct: fields are encoded in declaration order. */
export function struct<F extends Fields>(fields: F): Codec<StructOf<F>> {
  const keys = Object.keys(fields);
  const codecs = keys.map((k) => fields[k]!);
  const n = keys.length;
  return {
    encode: (w, v) => {
      const o = v as Record<string, unknown>;
      for (let i = 0; i < n; i++) codecs[i]!.encode(w, o[keys[i]!]);
    },
    decode: (r) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) out[keys[i]!] = codecs[i]!.decode(r);
      return out as StructOf<F>;
    },
  };
}

/**
 * A discriminated union shown flat: the discriminant is the field `tagField` and the arm's
 * struct fields sit beside it, e.g. createhow3 as `{ mode: EXCLUSIVE, verf }`. Arms are field
 * lists (`{}` for a void arm); a discriminant without an arm is an error, since the unions this
 * is used for are switched on enums whose other values are invalid.
 */
export type VariantOf<D extends string, A extends Record<number, Fields>> = {
  [K in keyof A & number]: { [P in D]: K } & StructOf<A[K]>;
}[keyof A & number];

export function variant<D extends string, A extends Record<number, Fields>>(
  name: string,
  tagField: D,
  arms: A,
): Codec<VariantOf<D, A>> {
  const table = new Map<number, { keys: string[]; codecs: Codec<unknown>[] }>();
  for (const [tag, fields] of Object.entries(arms)) {
    const keys = Object.keys(fields);
    table.set(Number(tag), { keys, codecs: keys.map((k) => fields[k]!) });
  }
  return {
    encode: (w, v) => {
      const o = v as Record<string, unknown>;
      const tag = o[tagField] as number;
      const arm = table.get(tag);
      if (!arm) throw new XdrError(`bad ${name} discriminant ${tag}`);
      w.int32(tag);
      for (let i = 0; i < arm.keys.length; i++) arm.codecs[i]!.encode(w, o[arm.keys[i]!]);
    },
    decode: (r) => {
      const tag = r.int32();
      const arm = table.get(tag);
      if (!arm) throw XdrError.decoding(`bad ${name} discriminant ${tag}`);
      const out: Record<string, unknown> = { [tagField]: tag };
      for (let i = 0; i < arm.keys.length; i++) out[arm.keys[i]!] = arm.codecs[i]!.decode(r);
      return out as VariantOf<D, A>;
    },
  };
}

/**
 * A discriminated union. `arms` maps discriminant values to the arm's codec; `fallback` (the
 * XDR `default:` arm) covers every other value, and without it an unknown discriminant is an
 * error. Values are `{ tag, value }`.
 */
export type UnionValue<A extends Record<number, Codec<unknown>>, D> =
  | { [K in keyof A & number]: { tag: K; value: Infer<A[K]> } }[keyof A & number]
  | (D extends Codec<infer T> ? { tag: number; value: T } : never);

export function union<A extends Record<number, Codec<unknown>>, D extends Codec<unknown> | undefined = undefined>(
  name: string,
  arms: A,
  fallback?: D,
): Codec<UnionValue<A, D>> {
  const table = new Map<number, Codec<unknown>>();
  for (const [k, c] of Object.entries(arms)) table.set(Number(k), c);
  return {
    encode: (w, v) => {
      const c = table.get(v.tag) ?? fallback;
      if (!c) throw new XdrError(`bad ${name} discriminant ${v.tag}`);
      w.int32(v.tag);
      c.encode(w, v.value);
    },
    decode: (r) => {
      const tag = r.int32();
      const c = table.get(tag) ?? fallback;
      if (!c) throw XdrError.decoding(`bad ${name} discriminant ${tag}`);
      return { tag, value: c.decode(r) } as UnionValue<A, D>;
    },
  };
}

/** A codec whose value type is mapped, e.g. a union shown to callers as a friendlier shape. */
export function mapped<T, U>(c: Codec<T>, to: (t: T) => U, from: (u: U) => T): Codec<U> {
  return {
    encode: (w, v) => c.encode(w, from(v)),
    decode: (r) => to(c.decode(r)),
  };
}

/** Encodes one value into a single buffer (tests, small messages). */
export function encode<T>(c: Codec<T>, v: T): Buffer {
  const w = new XdrWriter();
  c.encode(w, v);
  return w.toBuffer();
}

/** Decodes one value and requires the input to be consumed exactly. */
export function decode<T>(c: Codec<T>, buf: Buffer): T {
  const r = new XdrReader(buf);
  const v = c.decode(r);
  if (r.remaining() !== 0) throw XdrError.decoding(`${r.remaining()} trailing bytes`, 'trailing');
  return v;
}
