/**
 * A timeline consumer in its own process, for the SIGKILL tests: it runs the service's consumer
 * (`timelineConsumer`) on a Postgres URL and a bus URL until it is killed, and prints `ready`
 * once it has joined the group.
 *
 * argv: <postgres url> <bus url> <bus options JSON>
 */
import { openBus } from '@stella/platform/bus';
import { parseBusUrl } from '@stella/platform/config';
import { openDb } from '@stella/platform/db';
import { timelineConsumer } from '../consumer.js';
import { createTimelineMetrics } from '../metrics.js';
import { TIMELINE_GROUP } from '../service.js';

const [dbUrl, busUrl, optionsJson] = process.argv.slice(2);
if (!dbUrl || !busUrl) {
  process.stderr.write('usage: timeline-consumer-child <postgres url> <bus url> [options-json]\n');
  process.exit(2);
}
// Never outlive a parent that died without killing us.
setTimeout(() => process.exit(4), 120_000).unref();
const db = await openDb({ kind: 'postgres', url: dbUrl });
const bus = await openBus(parseBusUrl(busUrl), JSON.parse(optionsJson ?? '{}') as Record<string, unknown>);
const worker = timelineConsumer(db, bus, createTimelineMetrics(), {
  name: 'child',
  group: TIMELINE_GROUP,
  subscriptions: 2,
  batchSize: 500,
});
await worker.start();
process.stdout.write('ready\n');
setInterval(() => undefined, 1_000);
