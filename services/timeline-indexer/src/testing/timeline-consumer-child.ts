/**
 * A timeline consumer in its own process, for the SIGKILL and replica tests and the benches: it
 * runs the service's consumer (`timelineConsumer`) on a Postgres URL and a bus URL until it is
 * killed, and prints `ready` once it has joined the group.
 *
 * argv: <postgres url> <bus url> [bus options JSON] [child options JSON]
 * child options: `waitForGo` — connect, print `connected`, and join the group only after a `go`
 * line on stdin (a bench times the drain from there); `lifetimeMs` — exit after this long
 * (default 120 000) so a child never outlives a parent that died without killing it.
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
const child = JSON.parse(childJson ?? '{}') as { waitForGo?: boolean; lifetimeMs?: number };
setTimeout(() => process.exit(4), child.lifetimeMs ?? 120_000).unref();
const db = await openDb({ kind: 'postgres', url: dbUrl });
const bus = await openBus(parseBusUrl(busUrl), JSON.parse(optionsJson ?? '{}') as Record<string, unknown>);
const worker = timelineConsumer(db, bus, createTimelineMetrics(), {
  name: 'child',
  group: TIMELINE_GROUP,
  subscriptions: 2,
  batchSize: 500,
});
if (child.waitForGo) {
  process.stdout.write('connected\n');
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line.trim() === 'go') break;
}
await worker.start();
process.stdout.write('ready\n');
setInterval(() => undefined, 1_000);
