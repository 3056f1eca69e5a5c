// RPC record marking over a byte stream (RFC 5531 §11).
//
// A record is sent as one or more fragments, each preceded by a 4-byte mark: the high bit says
// "last fragment of this record", the low 31 bits give the fragment's length. The decoder is pure
// and incremental: feed it the chunks a socket delivers, get back the records they complete.
//
// Memory rules: a record that arrives as one fragment inside one chunk is returned as a view of
// that chunk (no copy); otherwise its pieces are kept as views and joined once, when complete.
// A mark that would take the record past the size limit is refused before anything is kept.

const LAST_FRAGMENT = 0x80000000;
/** The largest fragment a 31-bit length can describe. */
export const MAX_FRAGMENT = 0x7fffffff;

export type RecordErrorKind = 'record-too-large';

export class RecordError extends Error {
  constructor(
    readonly kind: RecordErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'RecordError';
  }
}

/** What one `push` produced: the records completed, and an error if the stream became invalid. */
export interface RecordBatch {
  readonly records: Buffer[];
  /** Set once the stream is unusable; later pushes return the same error and no records. */
  readonly error?: RecordError;
}

export interface RecordDecoderOptions {
  /** The largest record (sum of its fragments) accepted, in bytes. */
  readonly maxRecordSize: number;
}

export class RecordDecoder {
  private readonly maxRecordSize: number;
  /** A fragment mark split across chunks is collected here (at most 4 bytes). */
  private readonly mark = Buffer.alloc(4);
  private markBytes = 0;
  /** Bytes still expected in the current fragment; -1 while reading a mark. */
  private fragmentLeft = -1;
  private fragmentIsLast = false;
  /** Pieces of the record being assembled, each a view of an input chunk. */
  private pieces: Buffer[] = [];
  private recordBytes = 0;
  private failed: RecordError | undefined;

  constructor(options: RecordDecoderOptions) {
    if (!(options.maxRecordSize >= 0)) throw new RangeError('maxRecordSize must be >= 0');
    this.maxRecordSize = options.maxRecordSize;
  }

  /** Bytes held for an incomplete record (for accounting and tests). */
  get bufferedBytes(): number {
    return this.recordBytes;
  }

  /** True when no partial mark or record is pending, i.e. the stream may end here cleanly. */
  get atRecordBoundary(): boolean {
    return this.fragmentLeft < 0 && this.markBytes === 0 && this.pieces.length === 0 && this.recordBytes === 0;
  }

  push(chunk: Buffer): RecordBatch {
    if (this.failed) return { records: [], error: this.failed };
    const records: Buffer[] = [];
    let pos = 0;
    const end = chunk.length;
    while (pos < end || this.fragmentLeft === 0) {
      if (this.fragmentLeft < 0) {
        // Reading a mark, possibly split across chunks.
        let header: number;
        if (this.markBytes === 0 && end - pos >= 4) {
          header = chunk.readUInt32BE(pos);
          pos += 4;
        } else {
          const take = Math.min(4 - this.markBytes, end - pos);
          chunk.copy(this.mark, this.markBytes, pos, pos + take);
          this.markBytes += take;
          pos += take;
          if (this.markBytes < 4) break;
          header = this.mark.readUInt32BE(0);
          this.markBytes = 0;
        }
        const length = header & MAX_FRAGMENT;
        if (length > this.maxRecordSize - this.recordBytes) {
          this.fail(
            new RecordError(
              'record-too-large',
              `fragment of ${length} bytes would make a record of ${this.recordBytes + length} bytes; limit ${this.maxRecordSize}`,
            ),
          );
          return { records, error: this.failed };
        }
        this.fragmentLeft = length;
        this.fragmentIsLast = (header & LAST_FRAGMENT) !== 0;
        // Fast path: a whole single-fragment record inside this chunk is returned as a view.
        if (this.fragmentIsLast && this.pieces.length === 0 && end - pos >= length) {
          records.push(chunk.subarray(pos, pos + length));
          pos += length;
          this.fragmentLeft = -1;
        }
        continue;
      }
      const take = Math.min(this.fragmentLeft, end - pos);
      if (take > 0) {
        this.pieces.push(chunk.subarray(pos, pos + take));
        this.recordBytes += take;
        this.fragmentLeft -= take;
        pos += take;
      }
      if (this.fragmentLeft > 0) break;
      // Fragment complete.
      this.fragmentLeft = -1;
      if (this.fragmentIsLast) records.push(this.takeRecord());
    }
    return { records };
  }

  private takeRecord(): Buffer {
    const pieces = this.pieces;
    const size = this.recordBytes;
    this.pieces = [];
    this.recordBytes = 0;
    if (pieces.length === 0) return Buffer.alloc(0);
    if (pieces.length === 1) return pieces[0]!;
    return Buffer.concat(pieces, size);
  }

  private fail(error: RecordError): void {
    this.failed = error;
    this.pieces = [];
    this.recordBytes = 0;
  }
}

/** The 4-byte mark for one fragment. */
export function fragmentMark(length: number, last: boolean): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > MAX_FRAGMENT) {
    throw new RangeError(`fragment length ${length} out of range`);
  }
  const mark = Buffer.allocUnsafe(4);
  mark.writeUInt32BE((last ? LAST_FRAGMENT : 0) + length, 0);
  return mark;
}

function totalLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * Frames one record for writev: the marks followed by the caller's buffers (never copied). The
 * record is one fragment unless it is longer than `maxFragment`; then it is split into fragments
 * of `maxFragment` bytes, cutting buffers into views where a boundary falls inside one.
 */
export function frameRecord(parts: readonly Buffer[], maxFragment = MAX_FRAGMENT): Buffer[] {
  if (!Number.isInteger(maxFragment) || maxFragment < 1 || maxFragment > MAX_FRAGMENT) {
    throw new RangeError(`maxFragment ${maxFragment} out of range`);
  }
  let left = totalLength(parts);
  if (left <= maxFragment) return [fragmentMark(left, true), ...parts];
  const out: Buffer[] = [];
  let i = 0;
  let offset = 0; // within parts[i]
  while (left > 0) {
    const size = Math.min(maxFragment, left);
    left -= size;
    out.push(fragmentMark(size, left === 0));
    let need = size;
    while (need > 0) {
      const part = parts[i]!;
      const take = Math.min(need, part.length - offset);
      if (take > 0) out.push(offset === 0 && take === part.length ? part : part.subarray(offset, offset + take));
      offset += take;
      need -= take;
      if (offset === part.length) {
        i++;
        offset = 0;
      }
    }
  }
  return out;
}
