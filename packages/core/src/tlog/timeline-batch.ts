/**
 * The timeline's transparency log (issue 12 item 4; docs/formats/tlog.md "Timeline batches",
 * ADR 0014): each log entry is one *batch* of a tenant's timeline — a contiguous range of the
 * tenant's arrival numbers (commit order, gap-free) — and a timeline export is a window of events
 * with the proofs that it is complete. This module is the format and the offline verifier; no I/O.
 *
 * Entry (RFC 8785 canonical JSON, ≤ 65535 bytes):
 *
 * ```
 * {"arrivals":{"first":a,"last":b},"batch":k,"count":n,"events":"<hex RFC 9162 root over stubs>",
 *  "loggedAt":"<ISO ms>","occurred":{"max":…,"maxSoFar":…,"min":…},
 *  "schema":"stella.timeline.batch/v1","tenant":"<tenant>"}
 * ```
 *
 * `batch` is the entry's log index; `occurred.maxSoFar` is the largest occurredAt in batches
 * 0…k (monotone), which lets an export start at the batch before the first whose maxSoFar
 * reaches the window instead of at batch 0. A stub `{"arrival","digest","eventId","occurredAt"}`
 * (canonical JSON) is one Merkle leaf per event, in arrival order; `digest` is
 * {@link eventContentDigest} of the envelope.
 */
import { createHash } from 'node:crypto';
import { StellaError, isStellaError } from '../errors/index.js';
import { canonicalJcsBytes, canonicalizeJcs } from '../canonical-json/index.js';
import { hashEquals, leafHash, merkleRoot } from '../merkle/index.js';
import {
  openCheckpoint,
  verifyCheckpointConsistency,
  verifyInclusionInCheckpoint,
  type SignedCheckpoint,
} from './checkpoint.js';
import { parseVerifierKey, type NoteVerifier } from './note.js';

/** Schema id of a batch entry. */
export const TIMELINE_BATCH_SCHEMA = 'stella.timeline.batch/v1';
/** Schema id of an export file's header line. */
export const TIMELINE_EXPORT_SCHEMA = 'stella.timeline.export/v1';
/** Most events one batch holds (keeps an export's batch line bounded). */
export const MAX_BATCH_EVENTS = 2048;

/** One event of a batch as the log commits to it. */
export interface BatchStub {
  arrival: number;
  eventId: string;
  /** The timeline's ordering key: occurredAt in UTC to the millisecond (ISO, `Z`). */
  occurredAt: string;
  /** `sha256:<hex>` of the envelope ({@link eventContentDigest}). */
  digest: string;
}

/** A batch entry. */
export interface TimelineBatchEntry {
  schema: typeof TIMELINE_BATCH_SCHEMA;
  tenant: string;
  batch: number;
  arrivals: { first: number; last: number };
  count: number;
  occurred: { min: string; max: string; maxSoFar: string };
  loggedAt: string;
  /** Hex RFC 9162 root over the stubs' canonical JSON. */
  events: string;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The timeline's ordering key of an RFC 3339 occurredAt: epoch milliseconds, fraction truncated,
 * a leap second counted as the next millisecond (the indexer's rule, ingest.ts `occurredAtMs`).
 * @throws StellaError VALIDATION_FAILED
 */
export function occurredAtKey(occurredAt: string): number {
  const m = typeof occurredAt === 'string' ? RFC3339.exec(occurredAt) : null;
  if (!m) throw new StellaError('VALIDATION_FAILED', `not an RFC 3339 date-time: ${JSON.stringify(occurredAt)}`);
  const t = new Date(0);
  t.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  t.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3)));
  const offsetMin = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  return t.getTime() - offsetMin * 60_000;
}

/**
 * `sha256:<hex>` of an event envelope: SHA-256 of its RFC 8785 form; an envelope JCS refuses (a
 * lone surrogate in a payload string) is hashed as its `JSON.stringify` text instead, so every
 * stored event has a digest and both sides compute the same one.
 */
export function eventContentDigest(envelope: unknown): string {
  let bytes: Uint8Array;
  try {
    bytes = canonicalJcsBytes(envelope);
  } catch {
    bytes = new TextEncoder().encode(JSON.stringify(envelope));
  }
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The Merkle leaf input of a stub: its canonical JSON. */
export function stubLeaf(s: BatchStub): Uint8Array {
  return canonicalJcsBytes({ arrival: s.arrival, digest: s.digest, eventId: s.eventId, occurredAt: s.occurredAt });
}

/** Hex RFC 9162 root over the stubs, in the order given (arrival order). */
export function stubsRoot(stubs: readonly BatchStub[]): string {
  return Buffer.from(merkleRoot(stubs.map((s) => leafHash(stubLeaf(s))))).toString('hex');
}

/** The entry bytes (canonical JSON). */
export function encodeBatchEntry(e: TimelineBatchEntry): Uint8Array {
  return canonicalJcsBytes(e);
}

const invalid = (check: ExportCheck, message: string, details: Record<string, unknown> = {}, cause?: unknown) =>
  new StellaError('TIMELINE_EXPORT_INVALID', `${check}: ${message}`, {
    details: { check, ...details },
    ...(cause ? { cause } : {}),
  });

const isInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isIso = (v: unknown): v is string => typeof v === 'string' && ISO_MS.test(v) && !Number.isNaN(Date.parse(v));

/**
 * Parses entry bytes strictly: canonical JSON, the schema, the shapes.
 * @throws StellaError TIMELINE_EXPORT_INVALID (check `batch-entry`)
 */
export function parseBatchEntry(text: string): TimelineBatchEntry {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalid('batch-entry', 'the entry is not JSON');
  }
  const e = v as TimelineBatchEntry;
  const ok =
    e !== null &&
    typeof e === 'object' &&
    e.schema === TIMELINE_BATCH_SCHEMA &&
    typeof e.tenant === 'string' &&
    isInt(e.batch) &&
    isInt(e.arrivals?.first) &&
    isInt(e.arrivals?.last) &&
    e.arrivals.first >= 1 &&
    e.arrivals.last >= e.arrivals.first &&
    isInt(e.count) &&
    e.count === e.arrivals.last - e.arrivals.first + 1 &&
    e.count <= MAX_BATCH_EVENTS &&
    isIso(e.occurred?.min) &&
    isIso(e.occurred?.max) &&
    isIso(e.occurred?.maxSoFar) &&
    e.occurred.min <= e.occurred.max &&
    e.occurred.max <= e.occurred.maxSoFar &&
    isIso(e.loggedAt) &&
    typeof e.events === 'string' &&
    /^[0-9a-f]{64}$/.test(e.events);
  if (!ok) throw invalid('batch-entry', `not a ${TIMELINE_BATCH_SCHEMA} entry`);
  if (canonicalizeJcs(e) !== text) throw invalid('batch-entry', 'the entry is not in canonical (RFC 8785) form');
  return e;
}

/** The named checks of an export verification (exit 3 names the first that fails). */
export type ExportCheck =
  | 'format'
  | 'checkpoint'
  | 'held-checkpoint'
  | 'consistency'
  | 'batch-entry'
  | 'batch-inclusion'
  | 'batch-chain'
  | 'window-start'
  | 'batch-events'
  | 'event-digest'
  | 'order'
  | 'completeness'
  | 'late-event';

/** Header line of an export file. */
export interface TimelineExportHeader {
  type: 'header';
  schema: typeof TIMELINE_EXPORT_SCHEMA;
  tenant: string;
  origin: string;
  /** Window, inclusive lower bound (ISO ms). */
  from: string;
  /** Window, exclusive upper bound (ISO ms). */
  to: string;
  treeSize: number;
  /** The signed checkpoint the proofs are against. */
  checkpoint: string;
  /** The log's verifier key (informational: pin your own with `key`). */
  logKey: string;
  exportedAt: string;
}

/** What {@link TimelineExportVerifier} checks against. */
export interface TimelineExportVerifyOptions {
  /** The pinned log key; default the header's `logKey` (then {@link ExportReport.keyPinned} is false). */
  key?: NoteVerifier;
  /** A checkpoint the auditor holds (note): the export's checkpoint must extend it. */
  held?: string;
  /** Fail `late-event` when an event of the window was logged more than this after its occurredAt. */
  maxLatenessSeconds?: number;
}

/** Result of a verification that passed. */
export interface ExportReport {
  tenant: string;
  origin: string;
  from: string;
  to: string;
  treeSize: number;
  keyPinned: boolean;
  batches: number;
  /** Batches whose events were listed (they hold events of the window). */
  windowBatches: number;
  events: number;
  /** Sizes of the earlier checkpoints proven consistent with the export's. */
  consistentFrom: number[];
  heldSize?: number;
  /** Most seconds between an event's occurredAt and its batch's loggedAt, over the window. */
  maxLatenessSeconds: number;
}

const b64hashes = (v: unknown, what: ExportCheck): Uint8Array[] => {
  if (!Array.isArray(v)) throw invalid('format', `${what}: proof hashes must be an array`);
  return v.map((h) => {
    const b = typeof h === 'string' ? Buffer.from(h, 'base64') : Buffer.alloc(0);
    if (b.length !== 32 || b.toString('base64') !== h)
      throw invalid('format', `${what}: a proof hash is not 32 bytes of base64`);
    return new Uint8Array(b);
  });
};

/**
 * Verifies an export file line by line (NDJSON, see docs/formats/tlog.md "Timeline export"),
 * in one pass. Memory: the stubs of the window's events not yet matched by an event line (32-byte
 * digest and key each), never the events themselves.
 */
export class TimelineExportVerifier {
  private header: TimelineExportHeader | undefined;
  private cp: SignedCheckpoint | undefined;
  private key: NoteVerifier | undefined;
  private keyPinned = false;
  private fromMs = 0;
  private toMs = 0;
  private prev: TimelineBatchEntry | undefined;
  private batches = 0;
  private windowBatches = 0;
  private events = 0;
  private phase: 'header' | 'batches' | 'consistency' | 'events' | 'end' = 'header';
  private readonly expected = new Map<number, { eventId: string; digest: string; at: string; loggedAt: string }>();
  private lastKey: [number, string, number] | undefined;
  private readonly consistent: { size: number; root: Uint8Array }[] = [];
  private heldCp: SignedCheckpoint | undefined;
  private maxLateness = 0;
  private line = 0;

  constructor(private readonly opts: TimelineExportVerifyOptions = {}) {}

  /** Feeds one line (without its newline). @throws StellaError TIMELINE_EXPORT_INVALID (details.check) */
  push(text: string): void {
    this.line++;
    if (text.length === 0) return;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw invalid('format', `line ${this.line} is not JSON`, { line: this.line });
    }
    if (v === null || typeof v !== 'object') throw invalid('format', `line ${this.line} is not an object`);
    const type = v.type;
    if (this.phase === 'end') throw invalid('format', `line ${this.line} follows the end line`);
    if (type === 'header') return this.onHeader(v);
    if (!this.header) throw invalid('format', 'the first line must be the header');
    if (type === 'batch') return this.onBatch(v);
    if (type === 'consistency') return this.onConsistency(v);
    if (type === 'event') return this.onEvent(v);
    if (type === 'end') return this.onEnd(v);
    throw invalid('format', `line ${this.line} has unknown type ${JSON.stringify(type)}`);
  }

  private onHeader(v: Record<string, unknown>): void {
    if (this.phase !== 'header') throw invalid('format', 'a second header line');
    const h = v as unknown as TimelineExportHeader;
    if (
      h.schema !== TIMELINE_EXPORT_SCHEMA ||
      typeof h.tenant !== 'string' ||
      typeof h.origin !== 'string' ||
      !isIso(h.from) ||
      !isIso(h.to) ||
      !isInt(h.treeSize) ||
      typeof h.checkpoint !== 'string' ||
      typeof h.logKey !== 'string'
    )
      throw invalid('format', `the header is not a ${TIMELINE_EXPORT_SCHEMA} header`);
    this.header = h;
    this.fromMs = Date.parse(h.from);
    this.toMs = Date.parse(h.to);
    try {
      this.key = this.opts.key ?? parseVerifierKey(h.logKey);
      this.keyPinned = this.opts.key !== undefined;
      if (this.key.name !== h.origin)
        throw new StellaError(
          'TLOG_ORIGIN_MISMATCH',
          `the log key is ${this.key.name}, the export's origin ${h.origin}`,
        );
      this.cp = openCheckpoint(h.checkpoint, { origin: h.origin, verifiers: [this.key] });
    } catch (err) {
      if (isStellaError(err)) throw invalid('checkpoint', `${err.code}: ${err.message}`, { code: err.code }, err);
      throw err;
    }
    if (this.cp.size !== h.treeSize)
      throw invalid('checkpoint', `the header says tree size ${h.treeSize}, the checkpoint ${this.cp.size}`);
    if (this.opts.held !== undefined) {
      try {
        this.heldCp = openCheckpoint(this.opts.held, { origin: h.origin, verifiers: [this.key] });
      } catch (err) {
        if (isStellaError(err))
          throw invalid('held-checkpoint', `${err.code}: ${err.message}`, { code: err.code }, err);
        throw err;
      }
      if (this.heldCp.size > this.cp.size)
        throw invalid(
          'held-checkpoint',
          `TLOG_ROLLBACK: the export's checkpoint (size ${this.cp.size}) is older than the held one (size ${this.heldCp.size})`,
          { code: 'TLOG_ROLLBACK' },
        );
    }
    this.consistent.push({ size: this.cp.size, root: this.cp.rootHash });
    this.phase = 'batches';
  }

  private onBatch(v: Record<string, unknown>): void {
    if (this.phase !== 'batches') throw invalid('format', `batch line ${this.line} after the batches`);
    const cp = this.cp!;
    const tenant = this.header!.tenant;
    if (!isInt(v.index) || typeof v.entry !== 'string')
      throw invalid('format', `line ${this.line}: a batch needs index and entry`);
    const index = v.index;
    const e = parseBatchEntry(v.entry);
    const proof = b64hashes(v.proof, 'batch-inclusion');
    try {
      verifyInclusionInCheckpoint(
        leafHash(new TextEncoder().encode(v.entry)),
        { index, size: cp.size, hashes: proof },
        cp,
      );
    } catch (err) {
      if (isStellaError(err))
        throw invalid(
          'batch-inclusion',
          `batch ${index} is not entry ${index} of the checkpoint (${err.code})`,
          { index },
          err,
        );
      throw err;
    }
    if (e.batch !== index || e.tenant !== tenant)
      throw invalid('batch-chain', `entry ${index} says batch ${e.batch} of tenant ${e.tenant}`, { index });
    const p = this.prev;
    if (!p) {
      if (index === 0) {
        if (e.arrivals.first !== 1 || e.occurred.maxSoFar !== e.occurred.max)
          throw invalid('batch-chain', 'batch 0 must start at arrival 1 with maxSoFar = its max', { index });
      } else if (Date.parse(e.occurred.maxSoFar) >= this.fromMs) {
        // The first batch shown stands for everything before it: no earlier event reaches the window.
        throw invalid(
          'window-start',
          `the export starts at batch ${index}, whose maxSoFar ${e.occurred.maxSoFar} reaches the window: earlier batches may hold window events`,
          { index },
        );
      }
    } else {
      const maxSoFar = e.occurred.max > p.occurred.maxSoFar ? e.occurred.max : p.occurred.maxSoFar;
      if (index !== p.batch + 1)
        throw invalid('batch-chain', `batch ${index} follows batch ${p.batch}: batches are missing or reordered`, {
          index,
        });
      if (e.arrivals.first !== p.arrivals.last + 1)
        throw invalid(
          'batch-chain',
          `batch ${index} starts at arrival ${e.arrivals.first}, not ${p.arrivals.last + 1}`,
          { index },
        );
      if (e.occurred.maxSoFar !== maxSoFar)
        throw invalid('batch-chain', `batch ${index} has maxSoFar ${e.occurred.maxSoFar}, expected ${maxSoFar}`, {
          index,
        });
    }
    const intersects = Date.parse(e.occurred.min) < this.toMs && Date.parse(e.occurred.max) >= this.fromMs;
    if (intersects) this.checkStubs(e, v.stubs);
    else if (v.stubs !== undefined) this.checkStubs(e, v.stubs, false);
    this.prev = e;
    this.batches++;
  }

  private checkStubs(e: TimelineBatchEntry, raw: unknown, collect = true): void {
    if (!Array.isArray(raw))
      throw invalid('batch-events', `batch ${e.batch} holds events of the window but its events are not listed`, {
        index: e.batch,
      });
    if (raw.length !== e.count)
      throw invalid('batch-events', `batch ${e.batch} lists ${raw.length} events, its entry ${e.count}`, {
        index: e.batch,
      });
    const stubs: BatchStub[] = raw.map((s: BatchStub, i) => {
      if (
        !s ||
        s.arrival !== e.arrivals.first + i ||
        typeof s.eventId !== 'string' ||
        !isIso(s.occurredAt) ||
        typeof s.digest !== 'string' ||
        !/^sha256:[0-9a-f]{64}$/.test(s.digest)
      )
        throw invalid(
          'batch-events',
          `batch ${e.batch}: event ${i} is not the stub of arrival ${e.arrivals.first + i}`,
          {
            index: e.batch,
          },
        );
      return { arrival: s.arrival, eventId: s.eventId, occurredAt: s.occurredAt, digest: s.digest };
    });
    let min = stubs[0]!.occurredAt;
    let max = min;
    for (const s of stubs) {
      if (s.occurredAt < min) min = s.occurredAt;
      if (s.occurredAt > max) max = s.occurredAt;
    }
    if (stubsRoot(stubs) !== e.events || min !== e.occurred.min || max !== e.occurred.max)
      throw invalid('batch-events', `the events listed for batch ${e.batch} are not the ones its entry commits to`, {
        index: e.batch,
      });
    if (!collect) return;
    this.windowBatches++;
    const loggedMs = Date.parse(e.loggedAt);
    for (const s of stubs) {
      const at = Date.parse(s.occurredAt);
      if (at < this.fromMs || at >= this.toMs) continue;
      const late = Math.max(0, Math.floor((loggedMs - at) / 1000));
      if (this.opts.maxLatenessSeconds !== undefined && late > this.opts.maxLatenessSeconds)
        throw invalid(
          'late-event',
          `event ${s.eventId} (occurredAt ${s.occurredAt}) was logged ${late} s later, at ${e.loggedAt} (limit ${this.opts.maxLatenessSeconds} s): back-dated or late`,
          { eventId: s.eventId },
        );
      if (late > this.maxLateness) this.maxLateness = late;
      this.expected.set(s.arrival, { eventId: s.eventId, digest: s.digest, at: s.occurredAt, loggedAt: e.loggedAt });
    }
  }

  private onConsistency(v: Record<string, unknown>): void {
    if (this.phase === 'batches') this.finishBatches();
    if (this.phase !== 'consistency') throw invalid('format', `consistency line ${this.line} out of place`);
    const cp = this.cp!;
    if (!isInt(v.size)) throw invalid('format', `line ${this.line}: a consistency proof needs its size`);
    const hashes = b64hashes(v.hashes, 'consistency');
    let old: { origin: string; size: number; rootHash: Uint8Array; extensions: string[] } | undefined;
    if (typeof v.note === 'string') {
      try {
        old = openCheckpoint(v.note, { origin: cp.origin, verifiers: [this.key!] });
      } catch (err) {
        if (isStellaError(err))
          throw invalid('consistency', `checkpoint of size ${v.size}: ${err.code}`, { code: err.code }, err);
        throw err;
      }
      if (old.size !== v.size) throw invalid('consistency', `the checkpoint says size ${old.size}, the line ${v.size}`);
    } else if (this.heldCp && this.heldCp.size === v.size) {
      old = this.heldCp;
    } else return; // a proof for a checkpoint nobody here holds: nothing to check it against
    try {
      verifyCheckpointConsistency(old, cp, { oldSize: v.size, newSize: cp.size, hashes });
    } catch (err) {
      if (isStellaError(err))
        throw invalid(
          'consistency',
          `checkpoint ${v.size} → ${cp.size}: ${err.code}: ${err.message}`,
          { code: err.code },
          err,
        );
      throw err;
    }
    this.consistent.push({ size: old.size, root: old.rootHash });
  }

  private finishBatches(): void {
    const cp = this.cp!;
    const last = this.prev ? this.prev.batch : -1;
    if (last !== cp.size - 1)
      throw invalid(
        'batch-chain',
        `the batches end at ${last}, the checkpoint has ${cp.size}: later batches (which may hold late window events) are missing`,
      );
    this.phase = 'consistency';
  }

  private onEvent(v: Record<string, unknown>): void {
    if (this.phase === 'batches') this.finishBatches();
    if (this.phase === 'consistency') this.phase = 'events';
    if (this.phase !== 'events') throw invalid('format', `event line ${this.line} out of place`);
    const ev = v.event as { eventId?: unknown; tenant?: unknown; source?: unknown; occurredAt?: unknown } | null;
    if (
      !isInt(v.arrival) ||
      !ev ||
      typeof ev !== 'object' ||
      typeof ev.source !== 'string' ||
      typeof ev.occurredAt !== 'string'
    )
      throw invalid('format', `line ${this.line}: an event needs arrival and an envelope`);
    const arrival = v.arrival;
    const stub = this.expected.get(arrival);
    if (!stub)
      throw invalid(
        'completeness',
        `event ${String(ev.eventId)} (arrival ${arrival}) is not a logged event of the window`,
        {
          arrival,
        },
      );
    let at: number;
    try {
      at = occurredAtKey(ev.occurredAt);
    } catch {
      throw invalid('event-digest', `event ${String(ev.eventId)} has no valid occurredAt`);
    }
    if (
      ev.eventId !== stub.eventId ||
      ev.tenant !== this.header!.tenant ||
      new Date(at).toISOString() !== stub.at ||
      eventContentDigest(ev) !== stub.digest
    )
      throw invalid(
        'event-digest',
        `event ${String(ev.eventId)} (arrival ${arrival}) is not the event the log holds (changed, re-dated or replaced)`,
        { arrival, eventId: ev.eventId },
      );
    const key: [number, string, number] = [at, ev.source, arrival];
    const l = this.lastKey;
    // Sources compare by their UTF-8 bytes (PostgreSQL COLLATE "C"), not UTF-16 code units.
    const src = l ? Buffer.compare(Buffer.from(key[1], 'utf8'), Buffer.from(l[1], 'utf8')) : 0;
    if (l && !(key[0] > l[0] || (key[0] === l[0] && (src > 0 || (src === 0 && key[2] > l[2])))))
      throw invalid('order', `event ${String(ev.eventId)} is out of timeline order (occurredAt, source, arrival)`, {
        arrival,
      });
    this.lastKey = key;
    this.expected.delete(arrival);
    this.events++;
  }

  private onEnd(v: Record<string, unknown>): void {
    if (this.phase === 'batches') this.finishBatches();
    if (v.batches !== this.batches || v.events !== this.events)
      throw invalid(
        'format',
        `the end line counts ${String(v.batches)} batches, ${String(v.events)} events; the file has ${this.batches}, ${this.events}`,
      );
    this.phase = 'end';
  }

  /** Call after the last line. @throws StellaError TIMELINE_EXPORT_INVALID */
  finish(): ExportReport {
    if (!this.header) throw invalid('format', 'empty export (no header)');
    if (this.phase !== 'end') throw invalid('format', 'the export is truncated (no end line)');
    const missing = this.expected.values().next();
    if (!missing.done)
      throw invalid(
        'completeness',
        `${this.expected.size} logged event(s) of the window are missing, e.g. ${missing.value.eventId} (occurredAt ${missing.value.at})`,
        { missing: this.expected.size, eventId: missing.value.eventId },
      );
    const cp = this.cp!;
    if (this.heldCp) {
      const h = this.heldCp;
      const match = this.consistent.find((c) => c.size === h.size);
      if (!match)
        throw invalid(
          'held-checkpoint',
          `the export has no consistency proof from the held checkpoint (size ${h.size}); export with --since that checkpoint`,
          { size: h.size },
        );
      if (!hashEquals(match.root, h.rootHash))
        throw invalid(
          'held-checkpoint',
          `MERKLE_PROOF_INVALID: the held checkpoint of size ${h.size} has another root (a fork)`,
          {
            code: 'MERKLE_PROOF_INVALID',
          },
        );
    }
    return {
      tenant: this.header.tenant,
      origin: this.header.origin,
      from: this.header.from,
      to: this.header.to,
      treeSize: cp.size,
      keyPinned: this.keyPinned,
      batches: this.batches,
      windowBatches: this.windowBatches,
      events: this.events,
      consistentFrom: this.consistent.map((c) => c.size).filter((s) => s !== cp.size),
      ...(this.heldCp ? { heldSize: this.heldCp.size } : {}),
      maxLatenessSeconds: this.maxLateness,
    };
  }
}
