// Child process of transparency-log-crash.test.ts: appends entries and runs the sequencer until
// the parent SIGKILLs it. Prints `ready`, `ack <entry>` after each append resolved (so the entry
// is durable) and `phase <stored|published> <size>` around each integration commit.
import { openDb } from '@stella/platform/db';
import { FsObjectStore } from '@stella/platform/object-store';
import { parseSignerKey } from '@stella/core/tlog';
import { TransparencyLog } from '@stella/platform/tlog';

const [url, root, skey, origin, prefix] = process.argv.slice(2) as [string, string, string, string, string];
const say = (line: string) => process.stdout.write(`${line}\n`);
const db = await openDb({ kind: 'postgres', url, poolMax: 4 });
const store = new FsObjectStore({ root });
const log = await TransparencyLog.open({
  db,
  store,
  logId: 'crash',
  origin,
  signers: [parseSignerKey(skey)],
  maxBatch: 300,
  writeConcurrency: 2,
  onPhase: (phase, size) => say(`phase ${phase} ${size}`),
});
say('ready');
log.startSequencer({ idleMs: 2, onError: (e) => say(`error ${(e as Error).message}`) });
for (let i = 0; ; i++) {
  // Small batches and singles, so kills land inside appends as well as inside integrations.
  const batch = Array.from({ length: 1 + (i % 7) * 10 }, (_, j) => `${prefix}-${i}-${j}`);
  await log.appendMany(batch.map((e) => new TextEncoder().encode(e)));
  for (const e of batch) say(`ack ${e}`);
}
