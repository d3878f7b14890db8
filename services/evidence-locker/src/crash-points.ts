/**
 * Named points between writing an object and committing its row, where the SIGKILL tests stop a
 * real server process (server/src/evidence-locker-crash.e2e.test.ts). Inert unless a test process
 * installs a hook through `@stella/evidence-locker/testing`; production never does.
 */
export type CrashPoint = 'blob.stored' | 'snapshot.stored';

let hook: ((point: CrashPoint) => Promise<void>) | undefined;

/** Awaits the installed hook at `point`; without one, returns at once. */
export async function crashPoint(point: CrashPoint): Promise<void> {
  if (hook) await hook(point);
}

export function installCrashPointHook(h: ((point: CrashPoint) => Promise<void>) | undefined): void {
  hook = h;
}
