import type { CommandSpec } from '../command.js';

// Filled in by the slice that owns this command group.
export const commands: CommandSpec[] = [];
