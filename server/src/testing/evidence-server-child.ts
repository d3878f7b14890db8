/**
 * The whole server (`startRuntime`) in its own process, for the evidence locker's SIGKILL tests
 * (../evidence-locker-crash.e2e.test.ts). Configured by the STELLA_* variables it inherits, it
 * prints one JSON line `{"ready": url, "token": …}` (a dev token for tenant `acme`) once it
 * listens. With `STELLA_EVIDENCE_TEST_PAUSE_AT=<crash point>` (crash-points.ts) a request that
 * reaches that point prints `{"paused": point}` and never goes on — the parent then kills us.
 */
import { loadConfig } from '@stella/platform/config';
import { pauseForeverAt, type CrashPoint } from '@stella/evidence-locker/testing';
import { mintDevToken, startRuntime } from '../runtime.js';
import { SERVICES } from '../service-registry.js';

// Never outlive a parent that died without killing us.
setTimeout(() => process.exit(4), 180_000).unref();
const pauseAt = process.env.STELLA_EVIDENCE_TEST_PAUSE_AT as CrashPoint | undefined;
if (pauseAt) pauseForeverAt(pauseAt, () => process.stdout.write(`${JSON.stringify({ paused: pauseAt })}\n`));
const env = { ...process.env };
delete env.STELLA_EVIDENCE_TEST_PAUSE_AT;
const config = loadConfig(env, {}, { cwd: process.cwd(), services: SERVICES });
const rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
const token = await mintDevToken(rt.devIssuer!, 'acme');
process.stdout.write(`${JSON.stringify({ ready: rt.url, token })}\n`);
