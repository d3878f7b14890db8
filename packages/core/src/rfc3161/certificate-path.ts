/**
 * Certification path validation for a TSA signer (RFC 5280 §6.1, the parts a time-stamp chain
 * needs; no revocation — the verifier is offline).
 *
 * Why not pkijs' CertificateChainValidationEngine: it validates the *last* certificate it is
 * given rather than a named end entity, so a token carrying any certificate that chains to the
 * trust anchor could stand in for an attacker's self-signed signer (issue 19, finding 1), and it
 * ignores pathLenConstraint. Here the path always starts at the signer and every step is explicit:
 *
 * - each issuer is found by name (RFC 5280 §6.1.3 (a)(4)) and must have signed the certificate
 *   below it (§6.1.3 (a)(1));
 * - every certificate is valid at the check time (§6.1.3 (a)(2); RFC 3161: at genTime);
 * - every issuer, the trust anchor included, carries basicConstraints cA=TRUE (§6.1.4 (k)) and,
 *   when keyUsage is present, keyCertSign (§6.1.4 (n)); an issuer without basicConstraints is
 *   refused, as are v1 roots;
 * - pathLenConstraint holds: the number of non-self-issued intermediates below an issuer does not
 *   exceed it (§4.2.1.9, §6.1.4 (l)(m)); the anchor's own constraint counts too, as OpenSSL does;
 * - an unrecognised critical extension fails the path (§4.2, §6.1.4 (o));
 * - the path ends at a configured trust anchor (compared by DER), never at the end entity itself.
 *
 * All issuer candidates are tried, so a same-name certificate planted in the token can neither
 * pass nor block the genuine path.
 */
import * as pkijs from 'pkijs';
import { bytesEqual, derOf } from './asn1-support.js';

const EXT = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;

/** Extensions this validator (or the time-stamp checks around it) processes. */
const RECOGNISED = new Set<string>(Object.values(EXT));

/** RFC 5280 §4.2.1.3: KeyUsage bit 5 (keyCertSign) is 0x04 in the first content byte. */
const KEY_CERT_SIGN = 0x04;

/** Longest path tried (end entity + intermediates + anchor). */
const MAX_PATH_LENGTH = 10;

/** Result: the path from the end entity to the trust anchor, or why none exists. */
export type PathResult = { ok: true; path: pkijs.Certificate[] } | { ok: false; reasons: string[] };

/** Inputs of {@link validateCertificatePath}. */
export interface PathOptions {
  /** Untrusted certificates that may serve as intermediates. */
  intermediates: readonly pkijs.Certificate[];
  /** Trust anchors (CA certificates). */
  trustAnchors: readonly pkijs.Certificate[];
  /** Time at which every certificate must be valid. */
  time: Date;
}

interface Candidate {
  cert: pkijs.Certificate;
  der: Uint8Array;
  anchor: boolean;
}

function label(cert: pkijs.Certificate): string {
  return cert.subject.typesAndValues
    .map((tv) => String((tv.value.valueBlock as { value?: unknown }).value ?? ''))
    .join('/');
}

function extensions(cert: pkijs.Certificate, oid: string): pkijs.Extension[] {
  return cert.extensions?.filter((e) => e.extnID === oid) ?? [];
}

function isSelfIssued(cert: pkijs.Certificate): boolean {
  return cert.issuer.isEqual(cert.subject);
}

/** Problems with `cert` as such (any position in the path). */
function certificateProblem(cert: pkijs.Certificate, time: Date): string | undefined {
  if (time < cert.notBefore.value || time > cert.notAfter.value)
    return `${label(cert)} is not valid at ${time.toISOString()}`;
  const seen = new Set<string>();
  for (const e of cert.extensions ?? []) {
    // RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular extension".
    if (seen.has(e.extnID)) return `${label(cert)} repeats extension ${e.extnID}`;
    seen.add(e.extnID);
    if (e.critical && !RECOGNISED.has(e.extnID))
      return `${label(cert)} has unrecognised critical extension ${e.extnID}`;
  }
  return undefined;
}

/**
 * Problems with `issuer` signing certificates, given the number of non-self-issued intermediates
 * already below it in the path.
 */
function issuerProblem(issuer: pkijs.Certificate, intermediatesBelow: number): string | undefined {
  const bc = extensions(issuer, EXT.basicConstraints)[0]?.parsedValue as pkijs.BasicConstraints | undefined;
  if (!bc) return `issuer ${label(issuer)} has no basicConstraints`;
  if (bc.cA !== true) return `issuer ${label(issuer)} is not a CA (basicConstraints cA is FALSE)`;
  const ku = extensions(issuer, EXT.keyUsage)[0];
  if (ku) {
    const bits = (ku.parsedValue as { valueBlock?: { valueHexView?: Uint8Array } } | undefined)?.valueBlock
      ?.valueHexView;
    if (!bits || ((bits[0] ?? 0) & KEY_CERT_SIGN) === 0)
      return `issuer ${label(issuer)} keyUsage does not allow keyCertSign`;
  }
  if (bc.pathLenConstraint !== undefined) {
    const raw: unknown = bc.pathLenConstraint;
    const limit = typeof raw === 'number' ? raw : Number.POSITIVE_INFINITY; // a huge INTEGER never binds
    if (intermediatesBelow > limit)
      return `issuer ${label(issuer)} pathLenConstraint ${limit} exceeded by ${intermediatesBelow} intermediate(s)`;
  }
  return undefined;
}

async function signedBy(cert: pkijs.Certificate, issuer: pkijs.Certificate): Promise<boolean> {
  try {
    return await cert.verify(issuer);
  } catch {
    return false;
  }
}

/**
 * Validate the path from `endEntity` to one of `trustAnchors`. The end entity itself must not be
 * a CA-signing step: it is position 0, whatever the other certificates are.
 */
export async function validateCertificatePath(endEntity: pkijs.Certificate, options: PathOptions): Promise<PathResult> {
  const anchors: Candidate[] = options.trustAnchors.map((cert) => ({ cert, der: derOf(cert), anchor: true }));
  const pool: Candidate[] = [
    ...anchors,
    ...options.intermediates
      .map((cert) => ({ cert, der: derOf(cert), anchor: false }))
      .filter((c) => !anchors.some((a) => bytesEqual(a.der, c.der))),
  ];
  const reasons: string[] = [];
  const first = certificateProblem(endEntity, options.time);
  if (first) return { ok: false, reasons: [first] };

  const extend = async (path: pkijs.Certificate[], ders: Uint8Array[]): Promise<pkijs.Certificate[] | undefined> => {
    const below = path[path.length - 1]!;
    if (path.length >= MAX_PATH_LENGTH) {
      reasons.push(`no trust anchor within ${MAX_PATH_LENGTH} certificates`);
      return undefined;
    }
    // Non-self-issued intermediates between the end entity and the next issuer (§6.1.4 (l)).
    const intermediatesBelow = path.slice(1).filter((c) => !isSelfIssued(c)).length;
    for (const cand of pool) {
      if (!cand.cert.subject.isEqual(below.issuer)) continue;
      if (ders.some((d) => bytesEqual(d, cand.der))) continue; // no loops, and never the end entity again
      if (!(await signedBy(below, cand.cert))) {
        reasons.push(`${label(below)} is not signed by ${label(cand.cert)}`);
        continue;
      }
      const problem = certificateProblem(cand.cert, options.time) ?? issuerProblem(cand.cert, intermediatesBelow);
      if (problem) {
        reasons.push(problem);
        continue;
      }
      if (cand.anchor) return [...path, cand.cert];
      const found = await extend([...path, cand.cert], [...ders, cand.der]);
      if (found) return found;
    }
    if (!reasons.length) reasons.push(`no certificate for issuer ${label(below)}`);
    return undefined;
  };

  const path = await extend([endEntity], [derOf(endEntity)]);
  return path ? { ok: true, path } : { ok: false, reasons: [...new Set(reasons)] };
}
