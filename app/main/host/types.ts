/**
 * The host types moved to common/host-types.ts (the contract carries them, and common imports nothing
 * from the layers above it). This re-export only keeps app/main/vm compiling until it imports
 * from common; delete it then.
 */
export type * from '../common/host-types.js';
