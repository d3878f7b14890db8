/**
 * Severity from a CVSS vector: the base score computed by `ae-cvss-calculator` (CVSS v2, v3.0,
 * v3.1, v4.0), then the qualitative rating of that version — v3.x/v4.0 "Qualitative Severity
 * Rating Scale" (none 0, low < 4, medium < 7, high < 9, critical), v2 as NVD rates it (low < 4,
 * medium < 7, high; v2 has no "critical").
 */
import cvss from 'ae-cvss-calculator';
import type { Severity } from '../source-record.js';
import { severityOfScore } from './importer.js';

/** The vector's severity, or undefined when it is not a vector the calculator accepts. */
export function severityOfVector(vector: string): Severity | undefined {
  let base: number | undefined;
  try {
    const parsed = cvss.fromVector(vector.trim()) as { calculateScores(): { base?: number } } | undefined;
    base = parsed?.calculateScores().base;
  } catch {
    return undefined; // not a vector: the record simply states no usable CVSS severity
  }
  if (typeof base !== 'number' || !Number.isFinite(base)) return undefined;
  if (!vector.trim().startsWith('CVSS:')) return base === 0 ? 'none' : base < 4 ? 'low' : base < 7 ? 'medium' : 'high';
  return severityOfScore(base);
}
