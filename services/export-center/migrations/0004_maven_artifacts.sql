-- export-center sources store: Maven index rows (GAV + SHA-1 of a jar), the input of the
-- `trivy:java-db` export (issue #14 item 2; docs/export/sources.md "Maven index"). A new source
-- kind `artifact` with the format `maven-index`. Artifacts are tenant records like VEX or SBOMs
-- (global sources stay advisories only: the CHECK and the write policy of 0002 are unchanged).
ALTER TABLE export_center.source_records DROP CONSTRAINT source_records_kind_check;
ALTER TABLE export_center.source_records ADD CONSTRAINT source_records_kind_check
  CHECK (kind IN ('advisory', 'vex', 'sbom', 'finding', 'policy', 'artifact'));
ALTER TABLE export_center.source_records DROP CONSTRAINT source_records_format_check;
ALTER TABLE export_center.source_records ADD CONSTRAINT source_records_format_check
  CHECK (format IN ('osv', 'alpine-secdb', 'openvex', 'csaf', 'cyclonedx', 'spdx', 'findings', 'policy-pack', 'maven-index'));
