/**
 * A consumer process for the "killed before ack" contract test: it joins a group, reports each
 * delivery on stdout and never finishes a handler, so nothing is ever acknowledged. The parent
 * SIGKILLs it and checks that another consumer of the group gets the event again.
 *
 * argv: <bus url> <group> <options JSON>
 */
import { parseBusUrl } from '../../config/config-variables.js';
import { openBus } from '../open-bus.js';

const [url, group, optionsJson] = process.argv.slice(2);
if (!url || !group) {
  process.stderr.write('usage: bus-consumer-child <url> <group> [options-json]\n');
  process.exit(2);
}
// Never outlive a parent that died without killing us.
setTimeout(() => process.exit(4), 60_000).unref();
const bus = await openBus(parseBusUrl(url), JSON.parse(optionsJson ?? '{}') as Record<string, unknown>);
await bus.subscribe(
  group,
  async (event, meta) => {
    process.stdout.write(`got ${event.eventId} ${meta.attempt}\n`);
    await new Promise<void>(() => undefined); // hangs until SIGKILL: no ack ever
  },
  { batchSize: 1 },
);
process.stdout.write('ready\n');
// Keep the process alive while the subscription runs.
setInterval(() => undefined, 1_000);
