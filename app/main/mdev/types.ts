/**
 * The mdev types moved to common/mdev-types.ts (the contract carries them, and common imports nothing
 * from the layers above it). This re-export keeps older importers compiling; new code imports
 * from common directly.
 */
export type * from '../common/mdev-types.js';
