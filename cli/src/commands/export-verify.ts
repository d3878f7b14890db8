/**
 * `stella export verify <bundle> [--key pub.pem] [--json]` (issue #10 §8): checks an export.tgz
 * fully offline with the Export Center's own verifier (docs/formats/export-bundle.md
 * "Verification"). Exit 0 when every check passed, 3 naming each failed check (and so its file),
 * 1 for an unreadable bundle or key, 2 for usage errors.
 *
 * `verifyCommand` is exported on its own so that `stella export …` (cli/src/commands/export.ts)
 * can list it beside the online subcommands; `commands` registers it until then.
 */
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT, println, type CommandContext, type CommandSpec } from '../command.js';
import { checkGzip, readKey } from './evidence.js';

async function runVerify(ctx: CommandContext): Promise<number> {
  const path = resolve(ctx.cwd, ctx.positionals[0]!);
  const publicKeyPem = await readKey(ctx);
  await checkGzip(path);
  const { verifyExportBundle } = await import('@stella/server');
  const report = await verifyExportBundle(createReadStream(path), publicKeyPem ? { publicKeyPem } : {});
  const failed = report.checks.filter((c) => c.status === 'fail');
  if (ctx.json) println(ctx.stdout, JSON.stringify(report));
  else {
    for (const c of report.checks)
      println(ctx.stdout, `${c.status.padEnd(4)}  ${c.check}${c.detail ? ` — ${c.detail}` : ''}`);
    if (report.ok) {
      println(
        ctx.stdout,
        `Verification: OK — tenant ${report.tenant ?? '?'}, profile ${report.profile ? `${report.profile.name} v${report.profile.version}` : '?'}, manifest ${report.manifestDigest ?? '?'}, rerun hash ${report.rerunHash ?? '?'} (${report.checks.length} checks)`,
      );
      // Anyone can re-sign a bundle and ship their own key in keys/: without a trusted key this
      // proves the bundle is intact, not who signed it. Say so where the verdict is read.
      if (!publicKeyPem)
        println(
          ctx.stdout,
          'Signer NOT CHECKED: the signatures were verified with the key inside the bundle (integrity only); pass --key <trusted export key> to check who signed it.',
        );
    }
  }
  if (report.ok) return EXIT.OK;
  const named = failed.length ? failed : [{ check: 'signature', detail: 'no signature check passed' }];
  println(ctx.stderr, `Verification: FAILED — ${named.length} check(s) failed:`);
  for (const c of named) println(ctx.stderr, `  ${c.check}${c.detail ? `: ${c.detail}` : ''}`);
  return EXIT.VERIFY_FAILED;
}

export const verifyCommand: CommandSpec = {
  name: 'export verify',
  summary: 'Verify an export bundle (export.tgz) offline (no server, no network)',
  args: '<export.tgz>',
  description: [
    'Runs every check of docs/formats/export-bundle.md "Verification": archive safety, checksums.txt,',
    'the size and digest of every file in export.json, the rerun hash, the detached DSSE signature over',
    'export.json and the in-toto statement. One line per check, then a summary.',
    'Without --key the key inside the bundle is used (integrity, not identity). Exit 3 names each failed check.',
    '',
    'Example: stella export verify --key export.pub.pem export.tgz',
  ].join('\n'),
  options: {
    key: { type: 'string', arg: '<pub.pem>', description: 'Trusted export signing public key (SPKI PEM)' },
  },
  positionals: { min: 1, max: 1 },
  run: runVerify,
};

export const commands: CommandSpec[] = [verifyCommand];
