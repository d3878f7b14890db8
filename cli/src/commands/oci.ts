/**
 * `stella oci push <layout dir> <host[:port]/repo[:tag]>` — pushes one tagged entry of an OCI image
 * layout (e.g. a `trivy:db` bundle's `trivy/oci`) to a registry with the platform's registry client
 * (docs/formats/oci.md "Registry client"; ADR 0018). The registry ends up with the layout's exact
 * manifest digest, which is printed. Credentials: `--username` (or STELLA_REGISTRY_USERNAME) and
 * STELLA_REGISTRY_PASSWORD — never a flag, so the password stays out of process listings.
 */
import { resolve } from 'node:path';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';

async function runPush(ctx: CommandContext): Promise<number> {
  const { readOciLayout } = await import('@stella/platform/oci-layout');
  const { OciRegistryClient, parseOciReference, pushLayoutEntry } = await import('@stella/platform/oci-registry');
  const [layoutDir, refArg] = ctx.positionals as [string, string];
  const ref = parseOciReference(refArg);
  if (ref.digest) throw new UsageError('push to a tag (host/repo:tag), not to a digest');
  const layout = await readOciLayout(resolve(ctx.cwd, layoutDir));
  const refs = layout.entries.map((e) => e.refName).filter((r): r is string => r !== undefined);
  const from = stringOpt(ctx, 'ref') ?? (refs.length === 1 ? refs[0]! : ref.tag);
  if (!from) throw new UsageError(`the layout has ${refs.length} tags (${refs.join(', ')}); choose one with --ref`);
  const tag = ref.tag ?? from;
  const username = stringOpt(ctx, 'username');
  const password = ctx.env.STELLA_REGISTRY_PASSWORD;
  if (username && !password) throw new UsageError('--username needs the password in STELLA_REGISTRY_PASSWORD');
  const client = new OciRegistryClient({
    registry: ref.registry,
    scheme: ctx.values['plain-http'] === true ? 'http' : 'https',
    ...(username && password ? { credentials: { username, password } } : {}),
  });
  const r = await pushLayoutEntry(client, layout, from, ref.repository, tag);
  if (ctx.json) println(ctx.stdout, JSON.stringify({ reference: `${ref.registry}/${ref.repository}:${tag}`, ...r }));
  else
    println(
      ctx.stdout,
      `Pushed ${layoutDir}:${from} to ${ref.registry}/${ref.repository}:${tag} — ${r.digest} (${r.uploaded.length} blobs uploaded, ${r.existing.length} already there)`,
    );
  return EXIT.OK;
}

export const commands: CommandSpec[] = [
  {
    name: 'oci push',
    summary: 'Push a tagged entry of an OCI image layout to a registry (e.g. a trivy:db bundle’s trivy/oci)',
    args: '<layout dir> <host[:port]/repo[:tag]>',
    description: [
      'Uploads the blobs the manifest names (skipping those the registry has), then the manifest bytes',
      'unchanged, so the registry serves the layout’s digest. --plain-http for loopback or sites without TLS.',
      '',
      'Example: stella oci push trivy/oci registry.internal/aquasec/trivy-db:2',
      '         trivy image --db-repository registry.internal/aquasec/trivy-db …',
    ].join('\n'),
    options: {
      ref: {
        type: 'string',
        arg: '<tag>',
        description: 'Tag in the layout (default: its only tag, or the target tag)',
      },
      'plain-http': { type: 'boolean', description: 'Talk HTTP instead of HTTPS' },
      username: {
        type: 'string',
        arg: '<user>',
        env: 'STELLA_REGISTRY_USERNAME',
        description: 'Basic auth user; the password comes from STELLA_REGISTRY_PASSWORD',
      },
    },
    positionals: { min: 2, max: 2 },
    run: runPush,
  },
];
