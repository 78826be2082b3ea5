/** Public surface of the mdev layer (ARCHITECTURE.md: sysfs discovery under a configurable root,
 * the preflight doctor, create/remove through the privileged helper, assignment argv). */
export type * from '../common/mdev-types.js';
export { DEV_ROOT_ENV, nodeMdevFs, rootsFromEnv, SYSFS_ROOT_ENV } from './sysfs-io.js';
export type { MdevFs, MdevRoots } from './sysfs-io.js';
export { discoverMdev, findType } from './discover.js';
export type { DiscoverOptions } from './discover.js';
export { assertMdevReady, checkMdev, describeParent, fixActions } from './doctor.js';
export type { MdevDoctorInput, OtherVm } from './doctor.js';
export { etcGroupLookup, renderNodeFor } from './host-checks.js';
export type { GroupLookup, HostCheckDeps } from './host-checks.js';
export { hostdevId, libvirtHostdevXml, mdevArgs, mdevSysfsPath } from './argv.js';
export type { MdevArgv, MdevArgvOptions } from './argv.js';
export { assignmentDisplayKind, displayKindOf, parseDescription, vendorOf } from './describe.js';
export {
  actionProblem,
  applyFixArgs,
  findPkexec,
  helperArgs,
  interactiveRunner,
  locateHelper,
  privilegedArgv,
  runPrivileged,
} from './privileged.js';
export type { PrivilegedDeps, PrivilegedOutcome, PrivilegedRunner } from './privileged.js';
export { prepareMdevStart } from './start.js';
export type { MdevStartDeps, MdevStartPlan } from './start.js';
