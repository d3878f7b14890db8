/**
 * Whether Trivy can compare a version of an ecosystem (issue #14 "Bad input": versions Trivy
 * cannot compare are reported, not silently dropped). Trivy's library detector
 * (trivy pkg/detector/library/driver.go NewDriver) picks one comparer per ecosystem; a constraint
 * with a version its parser refuses logs "Version matching error" and the advisory never matches —
 * silently, on the scanning side. So the export checks every range boundary with the same grammar
 * and counts the records whose versions would fail (`versions.uncomparable.<slug>`).
 *
 * The grammars are the parsers' own regular expressions, at the versions trivy v0.74.0 requires:
 * - GenericComparer (cargo, composer, go, nuget, pub, erlang, conan, swift, k8s, julia):
 *   aquasecurity/go-version pkg/version `regex`;
 * - npm: aquasecurity/go-npm-version → go-version pkg/semver (strict SemVer 2.0 regex);
 * - pip: aquasecurity/go-pep440-version (PEP 440's reference regex, case-insensitive);
 * - maven, rubygems, cocoapods, bitnami: comparers that accept any non-empty string — not checked.
 */
const GENERIC =
  /^v?([0-9]+(\.[0-9]+)*)(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))?$/;

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

const PEP440 = new RegExp(
  '^\\s*v?(?:(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)*' +
    '(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?' +
    '(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?' +
    '(?:[-_.]?dev[-_.]?[0-9]*)?)' +
    '(?:\\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\\s*$',
  'i',
);

const GRAMMAR: Readonly<Record<string, RegExp>> = {
  npm: SEMVER,
  pip: PEP440,
  cargo: GENERIC,
  composer: GENERIC,
  go: GENERIC,
  nuget: GENERIC,
  pub: GENERIC,
  erlang: GENERIC,
  conan: GENERIC,
  swift: GENERIC,
  k8s: GENERIC,
  julia: GENERIC,
};

/** True when Trivy's comparer for `slug` parses `version` (or does not check versions at all). */
export function trivyCanCompare(slug: string, version: string): boolean {
  const g = GRAMMAR[slug];
  return g === undefined || g.test(version);
}
