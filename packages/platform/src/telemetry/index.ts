export { parseTraceparent, startTrace, formatTraceparent, type TraceContext } from './trace-context.js';
export { createHttpMetrics, type HttpMetrics, type MetricsOptions } from './metrics.js';
export {
  createLogger,
  formatTextLine,
  loggerOptions,
  resolveLogFormat,
  StellaLogController,
  type LogOptions,
  type LogStream,
} from './logger.js';
