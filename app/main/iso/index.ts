/** Installer ISOs: inspection (inspect.ts), OS recognition (recognize.ts), default VM names. */
export { inspectIso } from './inspect.js';
export { recognizeOs } from './recognize.js';
export { suggestVmName } from './vm-name.js';
export { defaultOsinfoDb, loadOsinfoDb, osinfoTable } from './osinfo-source.js';
export type { OsinfoDb } from './osinfo-db.js';
export type { BootEntry, IsoInfo, OsMatch, OsResources, WindowsMedia } from '../common/iso-types.js';
