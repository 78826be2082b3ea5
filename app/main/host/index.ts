/** Public surface of the host layer (ARCHITECTURE.md: accelerators, QEMU binaries, firmware,
 * memlock, cached capability probe). Everything else in this folder is an implementation detail. */
export type * from '../common/host-types.js';
export type { HostFs, HostIo, HostStat, QmpProcess, RunCommand, SpawnQmp } from './host-io.js';
export { probeHost, qemuArchOf } from './probe-host.js';
export type { ProbeHostOptions } from './probe-host.js';
export { formatHostReport } from './format-host-report.js';
export { ACCEL_ENV, AccelOverrideError, AccelUnavailableError, chooseAccel } from './choose-accel.js';
export type { AccelDecision } from './choose-accel.js';
export { QEMU_ENV, QEMU_IMG_ENV, QemuNotFoundError, requireQemu, requireQemuImg } from './qemu-discovery.js';
export { pickFirmware } from './firmware.js';
export { ensureMemlockFor, memlockFixText, memlockNeededBytes, readMemlock } from './memlock.js';
export type { MemlockRaise } from './memlock.js';
export { nodeHostIo } from './node-host-io.js';
