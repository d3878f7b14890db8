/**
 * Test support for the evidence locker (never imported by production code).
 */
import { installCrashPointHook, type CrashPoint } from '../crash-points.js';

export type { CrashPoint };

/**
 * Makes the process stop for good at `point`: `onPause` is called (e.g. print a line the parent
 * test waits for, then it SIGKILLs us) and the request never continues.
 */
export function pauseForeverAt(point: CrashPoint, onPause: () => void): void {
  installCrashPointHook(async (p) => {
    if (p !== point) return;
    onPause();
    await new Promise<never>(() => undefined);
  });
}
