/**
 * The list of `stella` commands. Each module exports `commands: CommandSpec[]` and keeps heavy
 * imports (the server, database drivers) inside `run`, so help and offline commands stay fast.
 */
import type { CommandSpec } from '../command.js';

export async function allCommands(): Promise<CommandSpec[]> {
  const modules = await Promise.all([
    import('./version.js'),
    import('./serve.js'),
    import('./migrate.js'),
    import('./auth.js'),
    import('./dsse.js'),
    import('./merkle.js'),
    import('./timestamp.js'),
    import('./tsa.js'),
    import('./whoami.js'),
    import('./keys.js'),
    import('./log-witness.js'),
    import('./timeline-log.js'),
    import('./evidence.js'),
    import('./export-verify.js'),
    import('./timeline.js'),
    // stella export … (online); `export verify` (offline) is export-verify.js above.
    import('./export.js'),
    import('./export-delta.js'),
    import('./oci.js'),
    import('./sources.js'),
    // stella log … (offline transparency-log checks); further `log` subcommands add their module here.
    import('./log.js'),
  ]);
  return modules.flatMap((m) => m.commands).sort((a, b) => a.name.localeCompare(b.name));
}
