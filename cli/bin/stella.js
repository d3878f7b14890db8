#!/usr/bin/env node
// Entry point kept in plain JS so `npx stella` works right after `npm ci` (which runs `tsc -b`).
// The package imports itself by name: the compiled dist by default, the TypeScript sources when
// run with `--conditions=development --import tsx` (tests).
import { main } from '@stella/cli';

process.exitCode = await main(process.argv.slice(2));
