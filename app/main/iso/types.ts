/**
 * The iso types moved to common/iso-types.ts (the contract carries them, and common imports nothing
 * from the layers above it). This re-export keeps older importers compiling; new code imports
 * from common directly.
 */
export type * from '../common/iso-types.js';
