/**
 * One attempt of one claimed run: profile (the pinned version) → adapter over the ledger snapshot
 * pinned at creation → staging → seal → streamed upload to the object store → `succeeded` with
 * the result, all under a lease that a heartbeat renews. The heartbeat also carries cancel
 * requests: either a cancel or a lost lease aborts the adapter through its AbortSignal.
 *
 * Outcomes: succeeded; cancelled (cancel requested); queued again (transient failure with
 * attempts left, or process shutdown — that attempt not counted); failed with its class. A lost
 * lease changes nothing (another worker owns the run now). Nothing half-written: the staging
 * directory always goes, an uploaded archive that was not recorded is deleted.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendToOutbox, newEvent } from '@stella/platform/bus';
import type { Queryable } from '@stella/platform/db';
import { resolveSigner } from '@stella/platform/keys';
import { unknownAdapterMessage } from '../adapters/adapter.js';
import type { StagingSink } from '../bundle/export-bundle.js';
import { countRun } from '../metrics.js';
import { getProfile } from '../profiles/profile.repository.js';
import { runArchiveKey } from '../settings.js';
import { SOURCE_KINDS } from '../sources/source-record.js';
import type { RunEnv } from './export-engine.js';
import { ExportFailure, classifyFailure, retryDelayMs, type ClassifiedFailure } from './failure.js';
import {
  appendEvent,
  getRun,
  markCancelled,
  markFailed,
  markSucceeded,
  renewLease,
  requeue,
  setProgress,
  type ClaimedRun,
} from './run.repository.js';

export const SERVICE_SOURCE = 'export-center';
/** Progress is written at most this often (the adapter may report every record). */
const PROGRESS_EVERY_MS = 250;

type AbortWhy = 'cancel' | 'lease' | 'shutdown';

class RunAborted extends Error {
  override readonly name = 'RunAborted';
  constructor(readonly why: AbortWhy) {
    super(`run aborted: ${why}`);
  }
}

/** Publishes `export.failed` and the closing events of a failed run (inside its transaction). */
export async function recordFailure(
  tx: Queryable,
  tenant: string,
  runId: string,
  failure: ClassifiedFailure,
  attempt: number,
): Promise<void> {
  await appendEvent(tx, runId, 'status', { status: 'failed', attempt, failure });
  await appendEvent(tx, runId, 'final', { status: 'failed', failure });
  await appendToOutbox(
    tx,
    newEvent({
      tenant,
      kind: 'export.failed',
      source: SERVICE_SOURCE,
      subject: runId,
      attributes: { runId, failureClass: failure.class, code: failure.code, attempt },
    }),
  );
}

export async function recordCancelled(tx: Queryable, runId: string, attempt: number): Promise<void> {
  await appendEvent(tx, runId, 'status', { status: 'cancelled', attempt });
  await appendEvent(tx, runId, 'final', { status: 'cancelled' });
}

/** Runs one attempt of `claim` to its end; never throws (every outcome is recorded on the run). */
export async function executeClaimedRun(env: RunEnv, claim: ClaimedRun, shutdown: AbortSignal): Promise<void> {
  const { db, engine, settings, log } = env;
  const { tenant, runId, attempt, leaseOwner } = claim;
  const inTenant = <T>(fn: (tx: Queryable) => Promise<T>) => db.withTenant(tenant, fn);

  const abort = new AbortController();
  const stop = (why: AbortWhy) => {
    if (!abort.signal.aborted) abort.abort(new RunAborted(why));
  };
  const onShutdown = () => stop('shutdown');
  shutdown.addEventListener('abort', onShutdown, { once: true });
  if (shutdown.aborted) stop('shutdown');

  // Heartbeat: renew the lease and pick up cancel requests, one renewal at a time.
  let beating = true;
  let beatTimer: NodeJS.Timeout | undefined;
  const beat = async () => {
    try {
      const r = await inTenant((tx) => renewLease(tx, runId, leaseOwner, settings.leaseMs));
      if (!r) stop('lease');
      else if (r.cancelRequested) stop('cancel');
    } catch (err) {
      // A failed renewal is not a lost lease yet: the next beat tries again before it expires.
      log.warn({ err, runId, tenant }, 'export lease renewal failed');
    }
    if (beating && !abort.signal.aborted) beatTimer = setTimeout(() => void beat(), settings.heartbeatMs);
  };

  let staging: StagingSink | undefined;
  let workDir: string | undefined;
  let uploadedKey: string | undefined;
  let recorded = false;
  try {
    await beat();
    abort.signal.throwIfAborted();
    const { run, profile } = await inTenant(async (tx) => {
      const run = await getRun(tx, runId);
      await appendEvent(tx, runId, 'status', { status: 'running', attempt, reclaimed: claim.reclaimed });
      return { run, profile: await getProfile(tx, run.profile_id, run.profile_version) };
    });
    const adapter = engine.adapters.get(profile.adapter);
    if (!adapter)
      throw new ExportFailure(
        'input',
        'EXPORT_ADAPTER_UNKNOWN',
        `the profile's ${unknownAdapterMessage(profile.adapter, engine.adapters.keys())}`,
      );
    const checked = adapter.validateOptions(profile.adapterOptions);
    if (!checked.ok)
      throw new ExportFailure(
        'input',
        'EXPORT_PROFILE_INVALID',
        `adapter options are invalid: ${checked.problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
      );
    const ledgerSeq = BigInt(run.ledger_seq);
    const ledger = engine.openLedger(db, tenant);
    const total = (await ledger.count(profile.filter, ledgerSeq)).records;
    await inTenant(async (tx) => {
      await setProgress(tx, runId, leaseOwner, { done: 0, total });
      await appendEvent(tx, runId, 'progress', { done: 0, total });
    });

    // Progress: the latest count, written at most every PROGRESS_EVERY_MS, one write at a time.
    let done = 0;
    let written = 0;
    let lastWrite = 0;
    let writing: Promise<void> = Promise.resolve();
    const flush = () => {
      if (done === written) return writing;
      const value = done;
      written = value;
      lastWrite = Date.now();
      writing = writing
        .then(() =>
          inTenant(async (tx) => {
            if (await setProgress(tx, runId, leaseOwner, { done: value }))
              await appendEvent(tx, runId, 'progress', { done: value, total });
          }),
        )
        .catch((err: unknown) => log.warn({ err, runId }, 'export progress write failed'));
      return writing;
    };

    workDir = await mkdtemp(join(env.workDir ?? tmpdir(), 'stella-export-'));
    staging = await engine.createStagingSink(workDir);
    const result = await adapter.write({
      records: ledger.iterate(profile.filter, ledgerSeq, abort.signal),
      options: checked.options,
      out: staging,
      signal: abort.signal,
      exportTime: profile.exportTime,
      progress(n) {
        done = n;
        if (Date.now() - lastWrite >= PROGRESS_EVERY_MS) void flush();
      },
    });
    abort.signal.throwIfAborted();
    await flush();

    const signer = await resolveSigner(env.signingKey);
    let sealed;
    try {
      sealed = await engine.sealExportBundle(
        staging,
        {
          profile: { id: profile.id, name: profile.name, version: profile.version },
          tenant,
          adapter: { id: adapter.id, version: adapter.version, options: checked.options },
          filter: profile.filter,
          ledgerSeq,
          counts: result.counts,
          exportTime: profile.exportTime,
        },
        signer,
      );
    } finally {
      await signer.close();
    }
    abort.signal.throwIfAborted();

    // Streamed from the sealed file; the store checks digest and size before the object is visible.
    const key = runArchiveKey(tenant, runId, attempt);
    await env.store.put(key, createReadStream(sealed.archivePath), {
      expectedDigest: sealed.archiveDigest,
      size: sealed.archiveSize,
      contentType: 'application/gzip',
    });
    uploadedKey = key;
    const artifact = {
      path: 'export.tgz',
      digest: sealed.archiveDigest,
      size: sealed.archiveSize,
      manifestDigest: sealed.manifestDigest,
      rerunHash: sealed.rerunHash,
      files: sealed.files.length,
    };
    recorded = await inTenant(async (tx) => {
      const ok = await markSucceeded(tx, runId, leaseOwner, {
        archiveKey: key,
        archiveDigest: sealed.archiveDigest,
        archiveSize: sealed.archiveSize,
        manifestDigest: sealed.manifestDigest,
        rerunHash: sealed.rerunHash,
        keyId: sealed.keyId,
        counts: result.counts,
        sourceKinds: profile.filter.kinds.filter((k) => SOURCE_KINDS.includes(k)),
      });
      if (!ok) return false;
      await appendEvent(tx, runId, 'progress', { done: total, total });
      await appendEvent(tx, runId, 'artifact', artifact);
      await appendEvent(tx, runId, 'status', { status: 'succeeded', attempt });
      await appendEvent(tx, runId, 'final', { status: 'succeeded', result: artifact });
      await appendToOutbox(
        tx,
        newEvent({
          tenant,
          kind: 'export.built',
          source: SERVICE_SOURCE,
          subject: runId,
          attributes: { runId, profileId: profile.id, profileVersion: profile.version, adapter: adapter.id },
          evidence: [{ digest: sealed.archiveDigest, manifestDigest: sealed.manifestDigest }],
        }),
      );
      return true;
    });
    if (!recorded) log.warn({ runId, tenant, attempt }, 'export run lost its lease before it could be recorded');
    else countRun(env.metrics, 'succeeded');
  } catch (err) {
    const why = abort.signal.aborted && abort.signal.reason instanceof RunAborted ? abort.signal.reason.why : undefined;
    await settle(env, claim, why, err).catch((e: unknown) =>
      // The database is gone too: the lease expires and the sweeper or another worker settles it.
      log.error({ err: e, runId, tenant }, 'export run outcome could not be recorded'),
    );
  } finally {
    beating = false;
    clearTimeout(beatTimer);
    shutdown.removeEventListener('abort', onShutdown);
    if (uploadedKey && !recorded) await env.store.delete(uploadedKey).catch(() => undefined);
    await staging?.dispose().catch(() => undefined);
    if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Records how a failed or aborted attempt ends. */
async function settle(env: RunEnv, claim: ClaimedRun, why: AbortWhy | undefined, err: unknown): Promise<void> {
  const { tenant, runId, attempt, leaseOwner } = claim;
  const inTenant = <T>(fn: (tx: Queryable) => Promise<T>) => env.db.withTenant(tenant, fn);
  if (why === 'lease') {
    env.log.warn({ runId, tenant, attempt }, 'export run lost its lease; another worker owns it now');
    return;
  }
  if (why === 'shutdown') {
    await inTenant(async (tx) => {
      if (await requeue(tx, runId, leaseOwner, { delayMs: 0, countAttempt: false }))
        await appendEvent(tx, runId, 'status', { status: 'queued', attempt, reason: 'worker shut down' });
    });
    return;
  }
  if (why === 'cancel') {
    const cancelled = await inTenant(async (tx) => {
      if (!(await markCancelled(tx, runId, leaseOwner))) return false;
      await recordCancelled(tx, runId, attempt);
      return true;
    });
    if (cancelled) countRun(env.metrics, 'cancelled');
    return;
  }
  const failure = classifyFailure(err);
  env.log[failure.class === 'internal' ? 'error' : 'warn'](
    { err, runId, tenant, attempt, failure },
    'export run failed',
  );
  const outcome = await inTenant(async (tx) => {
    const run = await getRun(tx, runId);
    if (failure.class === 'transient' && attempt < run.max_attempts) {
      const delayMs = retryDelayMs(env.settings.retryBaseMs, attempt);
      if (await requeue(tx, runId, leaseOwner, { delayMs, countAttempt: true })) {
        await appendEvent(tx, runId, 'status', { status: 'queued', attempt, retryInMs: delayMs, failure });
        return 'retried' as const;
      }
      return undefined;
    }
    if (await markFailed(tx, runId, leaseOwner, failure)) {
      await recordFailure(tx, tenant, runId, failure, attempt);
      return 'failed' as const;
    }
    return undefined;
  });
  if (outcome) countRun(env.metrics, outcome, failure.class);
}
