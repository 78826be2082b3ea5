/**
 * The host types moved to common/host-types.ts (the contract carries them, and common imports nothing
 * from the layers above it). This re-export keeps older importers compiling; new code imports
 * from common directly.
 */
export type * from '../common/host-types.js';
