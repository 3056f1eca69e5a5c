// Prometheus metrics: the registry, the project's metrics, the S3 wrapper and the scrape endpoint.

export { MetricRegistry, Counter, Gauge, Histogram, CounterChild, GaugeChild, HistogramChild } from './registry.js';
export type { Labels, MetricOptions, GaugeOptions, HistogramOptions, MetricType } from './registry.js';
export {
  S3nfsMetrics,
  ProcedureMetrics,
  S3ApiMetrics,
  RPC_DURATION_BUCKETS,
  S3_DURATION_BUCKETS,
  S3_API_NAMES,
  secondsSince,
} from './s3nfs-metrics.js';
export type { S3nfsMetricsOptions, WriteStagingSnapshot } from './s3nfs-metrics.js';
export { InstrumentedObjectStore } from './instrumented-store.js';
export { startMetricsServer } from './metrics-server.js';
export type { MetricsServer, MetricsServerOptions } from './metrics-server.js';
export { EXPOSITION_CONTENT_TYPE } from './exposition.js';
