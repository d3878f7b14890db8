/**
 * The export center's Prometheus collectors, on the app registry (`deps.metrics`, served at
 * `GET /metrics`). One set per registry: routes and workers of the same app share it, so a
 * collector is never registered twice. Add a collector here as a field of {@link ExportMetrics}.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ExportMetrics {
  /** Attempts that ended, by outcome and failure class (`none` unless failed or retried). */
  readonly runs: Counter<'outcome' | 'failure_class'>;
  /** Schedule fires, by trigger (`cron`, `event`) and result (`run`, `skipped`, `duplicate`, `suspended`). */
  readonly fires: Counter<'trigger' | 'result'>;
  /** 1 while this process holds the scheduler leadership. */
  readonly leader: Gauge;
  /** Runs removed by retention, by reason (`keepLast`, `maxAge`). */
  readonly pruned: Counter<'reason'>;
}

export type RunOutcome = 'succeeded' | 'failed' | 'cancelled' | 'retried';

const byRegistry = new WeakMap<Registry, ExportMetrics>();

export function exportMetrics(registry: Registry): ExportMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    const registers = [registry];
    m = {
      runs: new Counter({
        name: 'stella_export_runs_total',
        help: 'Export run attempts that ended, by outcome (succeeded, failed, cancelled, retried) and failure class.',
        labelNames: ['outcome', 'failure_class'],
        registers,
      }),
      fires: new Counter({
        name: 'stella_export_schedule_fires_total',
        help: 'Export schedule fires, by trigger (cron, event) and result (run, skipped, duplicate, suspended).',
        labelNames: ['trigger', 'result'],
        registers,
      }),
      leader: new Gauge({
        name: 'stella_export_scheduler_leader',
        help: '1 while this process is the export scheduler leader.',
        registers,
      }),
      pruned: new Counter({
        name: 'stella_export_pruned_runs_total',
        help: 'Export runs removed by retention, by reason (keepLast, maxAge).',
        labelNames: ['reason'],
        registers,
      }),
    };
    byRegistry.set(registry, m);
  }
  return m;
}

/** Counts one ended attempt (failure class `none` for succeeded and cancelled ones). */
export function countRun(m: ExportMetrics | undefined, outcome: RunOutcome, failureClass?: string): void {
  m?.runs.inc({ outcome, failure_class: failureClass ?? 'none' });
}
