/**
 * A timeline consumer in its own process, for the SIGKILL and replica tests and the benches: it
 * runs the service's consumer (`timelineConsumer`) on a Postgres URL and a bus URL until it is
 * killed, prints `ready` once it has joined the group, then `stored <n>` as its count grows.
 *
 * argv: <postgres url> <bus url> [bus options JSON] [child options JSON]
 * child options: `waitForGo` — connect, print `connected`, and join the group only after a `go`
 * line on stdin (a bench times the drain from there); `lifetimeMs` — exit after this long
 * (default 120 000) so a child never outlives a parent that died without killing it;
 * (stdin `exit`: exit normally, e.g. to write a `--cpu-prof` profile);
 * `subscriptions` / `batchSize` — the consumer's (default 2 × 500, the service's defaults).
 */
import { createInterface } from 'node:readline';
import { openBus } from '@stella/platform/bus';
import { parseBusUrl } from '@stella/platform/config';
import { openDb } from '@stella/platform/db';
import { timelineConsumer } from '../consumer.js';
import { createTimelineMetrics } from '../metrics.js';
import { TIMELINE_GROUP } from '../service.js';

const [dbUrl, busUrl, optionsJson, childJson] = process.argv.slice(2);
if (!dbUrl || !busUrl) {
  process.stderr.write('usage: timeline-consumer-child <postgres url> <bus url> [options-json] [child-json]\n');
  process.exit(2);
}
const child = JSON.parse(childJson ?? '{}') as {
  waitForGo?: boolean;
  lifetimeMs?: number;
  subscriptions?: number;
  batchSize?: number;
};
setTimeout(() => process.exit(4), child.lifetimeMs ?? 120_000).unref();
const db = await openDb({ kind: 'postgres', url: dbUrl });
const bus = await openBus(parseBusUrl(busUrl), JSON.parse(optionsJson ?? '{}') as Record<string, unknown>);
const metrics = createTimelineMetrics();
const worker = timelineConsumer(db, bus, metrics, {
  name: 'child',
  group: TIMELINE_GROUP,
  subscriptions: child.subscriptions ?? 2,
  batchSize: child.batchSize ?? 500,
});
// stdin lines: `go` (with waitForGo) starts consuming; `exit` exits normally, so that a
// `--cpu-prof` run writes its profile (a SIGKILL would not).
let started!: () => void;
const go = new Promise<void>((r) => (started = r));
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'go') started();
  if (line.trim() === 'exit') process.exit(0);
});
if (child.waitForGo) {
  process.stdout.write('connected\n');
  await go;
}
await worker.start();
process.stdout.write('ready\n');
// `stored <n>` whenever this process stored more (the replica test sees who did the work).
let reported = 0;
setInterval(() => {
  void metrics.stored.get().then((m) => {
    const n = m.values.reduce((sum, v) => sum + v.value, 0);
    if (n !== reported) process.stdout.write(`stored ${(reported = n)}\n`);
  });
}, 100);
