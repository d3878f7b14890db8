export { parseTraceparent, startTrace, formatTraceparent, type TraceContext } from './trace-context.js';
export { createHttpMetrics, type HttpMetrics, type MetricsOptions } from './metrics.js';
