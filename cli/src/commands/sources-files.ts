/**
 * What `stella sources import` sends (docs/export/sources.md "CLI"): the files under a path, the
 * kind of each (from --kind, or sniffed from the file's first bytes and extension), and policy
 * packs built from their directories. The server detects the exact format; this only picks the
 * route.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { SourceKind } from '@stella/sdk';

/** The manifest file that makes a directory a policy pack. */
export const POLICY_PACK_MANIFEST = 'policy-pack.json';
const IMPORTABLE = /\.(json|jsonl|ndjson|tsv)$/i;

export interface SourceUnit {
  /** The file (or pack directory) as the user named it / as found under the directory. */
  readonly path: string;
  readonly policyPack: boolean;
}

/** Files and packs under `root` (a file is itself), sorted; directories are walked for *.json, *.jsonl, *.ndjson. */
export async function sourceUnits(root: string): Promise<SourceUnit[]> {
  const info = await stat(root);
  if (!info.isDirectory()) return [{ path: root, policyPack: false }];
  const out: SourceUnit[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    if (entries.some((e) => e.isFile() && e.name === POLICY_PACK_MANIFEST)) {
      out.push({ path: dir, policyPack: true });
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && IMPORTABLE.test(e.name)) out.push({ path: p, policyPack: false });
    }
  };
  await walk(root);
  return out;
}

/** The kind of a file from its extension and first 64 KiB; undefined when it is no source format. */
export async function sniffKind(path: string): Promise<SourceKind | undefined> {
  if (/\.tsv$/i.test(path)) return 'artifact'; // a Maven index (trivy-java-db TSV)
  if (/\.(jsonl|ndjson)$/i.test(path)) return 'finding';
  const fh = await open(path, 'r');
  let prefix: string;
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    prefix = buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
  const has = (re: RegExp) => re.test(prefix);
  if (has(/"csaf_version"\s*:/) || has(/"@context"\s*:\s*"https:\/\/openvex\.dev\/ns/)) return 'vex';
  if (has(/"bomFormat"\s*:\s*"CycloneDX"/)) return has(/"analysis"\s*:/) ? 'vex' : 'sbom';
  if (has(/"spdxVersion"\s*:\s*"SPDX-/) || has(/spdx\.org\/rdf\/3/)) return 'sbom';
  if (has(/"distroversion"\s*:/) && has(/"packages"\s*:/)) return 'advisory';
  if (has(/"schema_version"\s*:/) || (has(/"id"\s*:/) && has(/"modified"\s*:/))) return 'advisory';
  if (has(/"apiVersion"\s*:\s*"stella\.dev\/policy-pack\//)) return 'policy';
  return undefined;
}

/** A file as a web stream (what the SDK sends), read from disk as it is sent. */
export function fileStream(path: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;
}

/**
 * A policy pack directory as the one JSON document the server takes: the manifest's members
 * plus `files: [{path, content}]` for every other regular file, by relative `/` path, sorted.
 * Contents must be UTF-8 text (policies are text); anything else is refused here.
 */
export async function policyPackDocument(dir: string): Promise<Record<string, unknown>> {
  const manifest = JSON.parse(await readFile(join(dir, POLICY_PACK_MANIFEST), 'utf8')) as Record<string, unknown>;
  const files: { path: string; content: string }[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    const path = relative(dir, full).split(sep).join('/');
    if (path === POLICY_PACK_MANIFEST) continue;
    files.push({ path, content: decoder.decode(await readFile(full)) });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ...manifest, files };
}
