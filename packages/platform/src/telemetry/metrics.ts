/**
 * Prometheus metrics (issue #2 item 6, `GET /metrics`): one prom-client registry per app with the
 * default process/Node.js metrics and an HTTP request histogram and counter labelled by method,
 * route *pattern* (never the raw URL: unbounded label values would blow up the time series
 * count) and status code.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface HttpMetrics {
  readonly registry: Registry;
  /** Records one finished request. `route` is the route pattern or `unmatched`. */
  observe(method: string, route: string, statusCode: number, seconds: number): void;
  /** Prometheus text exposition format (version 0.0.4). */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsOptions {
  /** Include prom-client's default process and Node.js metrics. Default true. */
  defaultMetrics?: boolean;
  /** Constant labels on every series (e.g. `{ service: 'export-center' }`). */
  labels?: Record<string, string>;
}

/** Seconds; spans fast JSON answers up to multi-second bundle downloads. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createHttpMetrics(opts: MetricsOptions = {}): HttpMetrics {
  const registry = new Registry();
  if (opts.labels) registry.setDefaultLabels(opts.labels);
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status_code'] as const;
  const duration = new Histogram({
    name: 'stella_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route pattern and status code.',
    labelNames,
    buckets: BUCKETS,
    registers: [registry],
  });
  const total = new Counter({
    name: 'stella_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames,
    registers: [registry],
  });
  return {
    registry,
    contentType: registry.contentType,
    observe(method, route, statusCode, seconds) {
      const labels = { method, route, status_code: String(statusCode) };
      duration.observe(labels, seconds);
      total.inc(labels);
    },
    render: () => registry.metrics(),
  };
}
