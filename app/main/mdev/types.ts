/**
 * The mdev types moved to common/mdev-types.ts (the contract carries them, and common imports nothing
 * from the layers above it). This re-export only keeps app/main/vm compiling until it imports
 * from common; delete it then.
 */
export type * from '../common/mdev-types.js';
