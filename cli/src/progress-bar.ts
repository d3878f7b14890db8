/**
 * A one-line progress bar on stderr for commands that upload or import many files. Drawn only
 * when `enabled` (callers pass "stderr is a TTY and not --json"), so scripts and logs never see
 * control sequences.
 */
import type { Writable } from 'node:stream';

export interface ProgressBar {
  update(done: number, label: string): void;
  clear(): void;
}

export function progressBar(stderr: Writable, enabled: boolean, total: number): ProgressBar {
  return {
    update(done, label) {
      if (!enabled) return;
      const width = 24;
      const filled = Math.round((done / Math.max(total, 1)) * width);
      stderr.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`);
    },
    clear() {
      if (enabled) stderr.write('\r\x1b[K');
    },
  };
}
