// Which byte ranges of a staged file hold data written through the mount. WRITEs arrive in any order
// and may overlap (the client resends a partial page from its start), so the map coalesces: it is
// always a sorted list of disjoint, non-touching [start, end) ranges.
//
// Today a hole reads as zeros. When edit-in-place arrives, a hole will mean "the base object's bytes"
// and these ranges are what must be uploaded rather than copied (UploadPartCopy).

export type Extent = readonly [start: number, end: number];

export class ExtentMap {
  /** Sorted, disjoint, non-adjacent, each start < end. */
  private ranges: Array<[number, number]>;

  constructor(ranges: Iterable<Extent> = []) {
    this.ranges = [];
    for (const [s, e] of ranges) this.add(s, e);
  }

  /** Marks [start, end) as written. Empty ranges are ignored. */
  add(start: number, end: number): void {
    if (!(end > start)) return;
    const r = this.ranges;
    // Fast path for the common case: sequential appends.
    const last = r[r.length - 1];
    if (last === undefined || start > last[1]) {
      r.push([start, end]);
      return;
    }
    // First range that ends at or after `start` (it may touch or overlap the new one).
    const lo = lowerBoundByEnd(r, start);
    // First range that starts after `end` (cannot merge).
    const hi = lowerBoundByStartAfter(r, end);
    if (lo === hi) {
      r.splice(lo, 0, [start, end]);
      return;
    }
    const merged: [number, number] = [Math.min(start, r[lo]![0]), Math.max(end, r[hi - 1]![1])];
    r.splice(lo, hi - lo, merged);
  }

  /** Forgets everything at or past `size` (a truncate). */
  truncate(size: number): void {
    const r = this.ranges;
    while (r.length > 0) {
      const last = r[r.length - 1]!;
      if (last[0] >= size) r.pop();
      else {
        if (last[1] > size) last[1] = size;
        break;
      }
    }
  }

  /** True when every byte of [start, end) is written (vacuously true for an empty range). */
  covers(start: number, end: number): boolean {
    if (!(end > start)) return true;
    const i = lowerBoundByEnd(this.ranges, start + 1);
    const range = this.ranges[i];
    return range !== undefined && range[0] <= start && range[1] >= end;
  }

  /** The written ranges, in order (copies). */
  extents(): Extent[] {
    return this.ranges.map(([s, e]) => [s, e] as const);
  }

  /** Total written bytes. */
  get bytes(): number {
    let n = 0;
    for (const [s, e] of this.ranges) n += e - s;
    return n;
  }

  /** One past the last written byte (0 when nothing is written). */
  get end(): number {
    return this.ranges[this.ranges.length - 1]?.[1] ?? 0;
  }

  get count(): number {
    return this.ranges.length;
  }

  clone(): ExtentMap {
    const copy = new ExtentMap();
    copy.ranges = this.ranges.map(([s, e]) => [s, e]);
    return copy;
  }

  toJSON(): Array<[number, number]> {
    return this.ranges.map(([s, e]) => [s, e]);
  }
}

/** Index of the first range whose end is >= `pos`. */
function lowerBoundByEnd(r: ReadonlyArray<[number, number]>, pos: number): number {
  let lo = 0;
  let hi = r.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (r[mid]![1] < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first range whose start is > `pos`. */
function lowerBoundByStartAfter(r: ReadonlyArray<[number, number]>, pos: number): number {
  let lo = 0;
  let hi = r.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (r[mid]![0] <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
