#!/usr/bin/env node
// Entry point kept in plain JS so `npx stella` works right after `npm ci` (which runs `tsc -b`).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));
