/**
 * Poison messages (issue #9 "Bad input"): whatever a consumer cannot store — bytes that are not
 * JSON or not a valid envelope (no tenant, unknown field, oversize: the bus adapters decode with
 * `decodeEvent` and report them through `onDeadLetter` without calling the handler), an envelope
 * the timeline cannot store, or an event out of delivery attempts — goes to
 * `timeline.dead_letters` with the reason and the raw message, and the stream moves on.
 */
import { isStellaError } from '@stella/core/errors';
import type { DeadLetter } from '@stella/platform/bus';
import type { Db } from '@stella/platform/db';

/** Why a message was dead-lettered: the error code when it has one, else `handler_failed`. */
export function deadLetterReason(dead: DeadLetter): string {
  if (isStellaError(dead.error)) return dead.error.code === 'EVENT_INVALID' ? 'invalid_event' : 'handler_failed';
  return dead.event ? 'handler_failed' : 'invalid_event';
}

/** Inserts one dead letter as the owner (the table is operator data, not a tenant's). */
export async function recordDeadLetter(db: Db, dead: DeadLetter): Promise<void> {
  const error = dead.error instanceof Error ? dead.error.message : String(dead.error);
  await db.query(
    `INSERT INTO timeline.dead_letters (consumer_group, message_id, attempt, tenant_id, event_id, reason, error_code, raw)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      dead.group,
      dead.messageId,
      dead.attempt,
      dead.event?.tenant ?? null,
      dead.event?.eventId ?? null,
      `${deadLetterReason(dead)}: ${error}`.slice(0, 4096),
      isStellaError(dead.error) ? dead.error.code : null,
      Buffer.from(dead.raw, 'utf8'),
    ],
  );
}
