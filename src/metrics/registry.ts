// A small Prometheus metrics registry: counters, gauges and fixed-bucket histograms, with labels.
// The hot path is a child handle: `counter.labels({ procedure: 'READ' })` is looked up once and kept;
// its `inc()` is one addition. Label escaping is done when a child is created, not at every scrape.

import {
  escapeHelp,
  formatLabelPairs,
  formatValue,
  isValidLabelName,
  isValidMetricName,
} from './exposition.js';

/** The values of a metric's labels, by label name. */
export type Labels<L extends string> = { readonly [K in L]: string };

export interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /** Read at every scrape (only for a gauge without labels): the value is whatever this returns. */
  collect?: () => number;
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, strictly increasing; the `+Inf` bucket is always added. */
  buckets: readonly number[];
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

abstract class Metric<L extends string, C> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: MetricType;
  private readonly children = new Map<string, C>();
  private unlabelled: C | undefined;

  constructor(opts: MetricOptions<L>) {
    if (!isValidMetricName(opts.name)) throw new Error(`invalid metric name "${opts.name}"`);
    const labelNames = opts.labelNames ?? [];
    for (const l of labelNames) {
      if (!isValidLabelName(l)) throw new Error(`${opts.name}: invalid label name "${l}"`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`${opts.name}: repeated label name`);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = [...labelNames];
  }

  /** The handle for one combination of label values; keep it rather than calling this per event. */
  labels(values: Labels<L>): C {
    const given = Object.keys(values);
    if (given.length !== this.labelNames.length || !this.labelNames.every((n) => typeof values[n] === 'string')) {
      throw new Error(
        `${this.name}: labels must be exactly {${this.labelNames.join(', ')}}, got {${given.join(', ')}}`,
      );
    }
    if (this.labelNames.length === 0) return this.only;
    const ordered = this.labelNames.map((n) => values[n]);
    const key = JSON.stringify(ordered);
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.child(formatLabelPairs(this.labelNames, ordered));
      this.children.set(key, child);
    }
    return child;
  }

  /** HELP, TYPE and every sample, each line ending in a line feed. */
  render(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    // A metric without labels always has its one sample, so it reads 0 before the first event.
    if (this.labelNames.length === 0) out += this.renderChild(this.only);
    for (const child of this.children.values()) out += this.renderChild(child);
    return out;
  }

  /** Sample names this metric writes (a histogram writes three). */
  sampleNames(): string[] {
    return [this.name];
  }

  /** The handle used when the metric has no labels (created on first use). */
  protected get only(): C {
    if (this.unlabelled === undefined) {
      if (this.labelNames.length > 0) throw new Error(`${this.name} has labels: use .labels({…})`);
      this.unlabelled = this.child('');
    }
    return this.unlabelled;
  }

  protected abstract child(pairs: string): C;
  protected abstract renderChild(child: C): string;
}

function sample(name: string, pairs: string, value: number): string {
  return pairs === '' ? `${name} ${formatValue(value)}\n` : `${name}{${pairs}} ${formatValue(value)}\n`;
}

export class CounterChild {
  private count = 0;

  constructor(readonly pairs: string) {}

  inc(n = 1): void {
    if (!(n >= 0)) throw new RangeError(`a counter only goes up (inc by ${n})`);
    this.count += n;
  }

  get value(): number {
    return this.count;
  }
}

export class Counter<L extends string = never> extends Metric<L, CounterChild> {
  readonly type = 'counter';
  private collector: (() => number) | undefined;

  inc(this: Counter<never>, n = 1): void {
    this.only.inc(n);
  }

  get value(): number {
    return this.collector !== undefined ? this.collector() : this.only.value;
  }

  /**
   * Makes the counter read `collect()` at every scrape instead of counting itself: for totals kept
   * elsewhere (CPU time). `collect` must never go down.
   */
  setCollector(collect: () => number): void {
    if (this.labelNames.length > 0) throw new Error(`${this.name}: only a counter without labels takes a collector`);
    this.collector = collect;
  }

  protected child(pairs: string): CounterChild {
    return new CounterChild(pairs);
  }

  protected renderChild(c: CounterChild): string {
    return sample(this.name, c.pairs, this.collector !== undefined ? this.collector() : c.value);
  }
}

export class GaugeChild {
  private current = 0;

  constructor(readonly pairs: string) {}

  set(v: number): void {
    this.current = v;
  }

  inc(n = 1): void {
    this.current += n;
  }

  dec(n = 1): void {
    this.current -= n;
  }

  get value(): number {
    return this.current;
  }
}

export class Gauge<L extends string = never> extends Metric<L, GaugeChild> {
  readonly type = 'gauge';
  private collector: (() => number) | undefined;

  constructor(opts: GaugeOptions<L>) {
    super(opts);
    if (opts.collect !== undefined) this.setCollector(opts.collect);
  }

  set(this: Gauge<never>, v: number): void {
    this.only.set(v);
  }

  inc(this: Gauge<never>, n = 1): void {
    this.only.inc(n);
  }

  dec(this: Gauge<never>, n = 1): void {
    this.only.dec(n);
  }

  get value(): number {
    return this.collector !== undefined ? this.collector() : this.only.value;
  }

  /** Makes the gauge read `collect()` at every scrape (replacing any earlier collector). */
  setCollector(collect: () => number): void {
    if (this.labelNames.length > 0) throw new Error(`${this.name}: only a gauge without labels takes a collector`);
    this.collector = collect;
  }

  protected child(pairs: string): GaugeChild {
    return new GaugeChild(pairs);
  }

  protected renderChild(c: GaugeChild): string {
    return sample(this.name, c.pairs, this.collector !== undefined ? this.collector() : c.value);
  }
}

export class HistogramChild {
  /** Observations per bucket (not cumulative); the last slot is the +Inf bucket. */
  private readonly perBucket: number[];
  private total = 0;
  private n = 0;

  constructor(
    readonly pairs: string,
    private readonly bounds: readonly number[],
  ) {
    this.perBucket = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    const bounds = this.bounds;
    let i = 0;
    // Buckets are few (about 15); a linear scan beats a binary search at that size.
    while (i < bounds.length && !(v <= bounds[i]!)) i++;
    this.perBucket[i]!++;
    this.total += v;
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  get sum(): number {
    return this.total;
  }

  /** Cumulative counts per bucket as exposed (`le` = each bound, then +Inf). */
  cumulativeCounts(): number[] {
    const out: number[] = [];
    let running = 0;
    for (const c of this.perBucket) {
      running += c;
      out.push(running);
    }
    return out;
  }
}

export class Histogram<L extends string = never> extends Metric<L, HistogramChild> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  private readonly leText: string[];

  constructor(opts: HistogramOptions<L>) {
    const bounds = opts.buckets.at(-1) === Infinity ? opts.buckets.slice(0, -1) : [...opts.buckets];
    if (bounds.length === 0) throw new Error(`${opts.name}: a histogram needs at least one bucket`);
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]!) || (i > 0 && !(bounds[i]! > bounds[i - 1]!))) {
        throw new Error(`${opts.name}: buckets must be finite and strictly increasing`);
      }
    }
    if ((opts.labelNames ?? []).some((l) => l === 'le')) {
      throw new Error(`${opts.name}: "le" is reserved in histograms`);
    }
    super(opts);
    this.buckets = bounds;
    this.leText = [...bounds.map(formatValue), '+Inf'];
  }

  observe(this: Histogram<never>, v: number): void {
    this.only.observe(v);
  }

  get count(): number {
    return this.only.count;
  }

  get sum(): number {
    return this.only.sum;
  }

  override sampleNames(): string[] {
    return [`${this.name}_bucket`, `${this.name}_sum`, `${this.name}_count`];
  }

  protected child(pairs: string): HistogramChild {
    return new HistogramChild(pairs, this.buckets);
  }

  protected renderChild(c: HistogramChild): string {
    const prefix = c.pairs === '' ? '' : `${c.pairs},`;
    const counts = c.cumulativeCounts();
    let out = '';
    for (let i = 0; i < counts.length; i++) {
      out += `${this.name}_bucket{${prefix}le="${this.leText[i]!}"} ${formatValue(counts[i]!)}\n`;
    }
    out += sample(`${this.name}_sum`, c.pairs, c.sum);
    out += sample(`${this.name}_count`, c.pairs, c.count);
    return out;
  }
}

export type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** The set of metrics one server exposes, in the order they were declared. */
export class MetricRegistry {
  private readonly metrics: AnyMetric[] = [];
  private readonly sampleNames = new Set<string>();
  private readonly hooks: (() => void)[] = [];

  counter<L extends string = never>(opts: MetricOptions<L>): Counter<L> {
    return this.add(new Counter<L>(opts));
  }

  gauge<L extends string = never>(opts: GaugeOptions<L>): Gauge<L> {
    return this.add(new Gauge<L>(opts));
  }

  histogram<L extends string = never>(opts: HistogramOptions<L>): Histogram<L> {
    return this.add(new Histogram<L>(opts));
  }

  /** Runs `hook` at the start of every scrape (to copy state into gauges). Returns an unsubscribe. */
  beforeCollect(hook: () => void): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** The whole registry in the text exposition format. Throws when a collector or hook throws. */
  render(): string {
    for (const hook of [...this.hooks]) hook();
    let out = '';
    for (const m of this.metrics) out += m.render();
    return out;
  }

  private add<M extends AnyMetric>(metric: M): M {
    const names = metric.sampleNames();
    const taken = names.find((n) => this.sampleNames.has(n));
    if (taken !== undefined) throw new Error(`metric name "${taken}" is already registered`);
    for (const n of names) this.sampleNames.add(n);
    this.metrics.push(metric);
    return metric;
  }
}
