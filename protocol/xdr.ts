// XDR (RFC 4506): a cursor reader, a gathering writer, and codec combinators so each
// wire structure is declared once and gets both directions from that declaration.
//
// Zero-copy rules: the reader returns opaque data as subarrays of its input; the writer keeps
// large opaque payloads by reference (see XdrWriter.toBuffers) so READ replies go to the socket
// without being copied into a bigger buffer.

export class XdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XdrError';
  }
}

const PAD = Buffer.alloc(4);

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
      throw new XdrError(`need ${n} bytes at offset ${this.offset}, have ${this.end - this.offset}`);
    }
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
    const v = this.buf.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  bool(): boolean {
    const v = this.uint32();
    if (v > 1) throw new XdrError(`bad bool ${v}`);
    return v === 1;
  }

  /** Fixed-length opaque: a subarray of the input, never a copy. */
  opaqueFixed(n: number): Buffer {
    const padded = n + pad4(n);
    this.need(padded);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += padded;
    return out;
  }

  /** Variable-length opaque, its length checked against `max` and the remaining bytes first. */
  opaqueVar(max: number): Buffer {
    const n = this.uint32();
    if (n > max) throw new XdrError(`opaque length ${n} exceeds limit ${max}`);
    return this.opaqueFixed(n);
  }

  string(max: number): string {
    return this.opaqueVar(max).toString('utf8');
  }

  /** Reads an array count, rejecting counts that could not fit in the remaining bytes. */
  count(max: number, minItemBytes = 4): number {
    const n = this.uint32();
    if (n > max) throw new XdrError(`array length ${n} exceeds limit ${max}`);
    if (n * minItemBytes > this.end - this.offset) {
      throw new XdrError(`array length ${n} cannot fit in ${this.end - this.offset} bytes`);
    }
    return n;
  }
}

/** Payloads at least this long are kept by reference instead of copied into the writer's chunk. */
const BY_REFERENCE_MIN = 1024;
const CHUNK = 4096;

export class XdrWriter {
  private chunks: Buffer[] = [];
  private cur: Buffer;
  private pos = 0;
  private flushedBytes = 0;

  constructor(initial = CHUNK) {
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
    this.cur.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.cur.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
    return this;
  }

  uint64(v: bigint): this {
    this.ensure(8);
    this.cur.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  int64(v: bigint): this {
    this.ensure(8);
    this.cur.writeBigInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bool(v: boolean): this {
    return this.uint32(v ? 1 : 0);
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
        this.chunks.push(PAD.subarray(0, p));
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
      if (!allowed.has(v)) throw new XdrError(`bad ${name} value ${v}`);
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
      if (v.length > max) throw new XdrError(`opaque length ${v.length} exceeds limit ${max}`);
      w.opaqueVar(v);
    },
    decode: (r) => r.opaqueVar(max),
  };
}

export function string(max: number): Codec<string> {
  return {
    encode: (w, v) => {
      const b = Buffer.from(v, 'utf8');
      if (b.length > max) throw new XdrError(`string length ${b.length} exceeds limit ${max}`);
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
      if (v.length > max) throw new XdrError(`array length ${v.length} exceeds limit ${max}`);
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

/**
 * A linked list as XDR spells it (`entry *next`), e.g. READDIR entries or the portmap dump:
 * a sequence of `TRUE item` followed by `FALSE`. Decoding stops after `max` items.
 */
export function list<T>(c: Codec<T>, max: number): Codec<T[]> {
  return {
    encode: (w, v) => {
      for (const item of v) {
        w.uint32(1);
        c.encode(w, item);
      }
      w.uint32(0);
    },
    decode: (r) => {
      const out: T[] = [];
      while (r.bool()) {
        if (out.length >= max) throw new XdrError(`list longer than ${max}`);
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
  const entries = Object.entries(fields) as [keyof F & string, Codec<unknown>][];
  return {
    encode: (w, v) => {
      for (const [k, c] of entries) c.encode(w, v[k]);
    },
    decode: (r) => {
      const out = {} as Record<string, unknown>;
      for (const [k, c] of entries) out[k] = c.decode(r);
      return out as StructOf<F>;
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
      if (!c) throw new XdrError(`bad ${name} discriminant ${tag}`);
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
  if (r.remaining() !== 0) throw new XdrError(`${r.remaining()} trailing bytes`);
  return v;
}
