/**
 * ISO 8601 durations (ISO 8601-1:2019 §5.5.2) for schedules' quiet periods and retention's max
 * age, restricted to the parts of one fixed length — days, hours, minutes, seconds (`P30D`,
 * `PT12H`, `P1DT30M`). Years and months are refused: `P1M` would mean 28 to 31 days depending on
 * the date, and a pruned-run record must say exactly which age applied. Zero and negative
 * durations are refused. (The evidence locker has the same rule; services share no code.)
 */
export const DURATION_PATTERN = '^P(?!$)(\\d{1,6}D)?(T(?=\\d)(\\d{1,7}H)?(\\d{1,9}M)?(\\d{1,10}S)?)?$';
const DURATION = new RegExp(DURATION_PATTERN);

/** Seconds of `text`, or undefined when it is not a positive duration of that form. */
export function parseDuration(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const n = (part: string | undefined) => (part ? Number(part.slice(0, -1)) : 0);
  const seconds = n(m[1]) * 86_400 + n(m[3]) * 3600 + n(m[4]) * 60 + n(m[5]);
  return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** The one canonical spelling of `seconds` (largest units first, zero parts left out). */
export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
  if (!d && !time) return 'PT0S';
  return `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}
