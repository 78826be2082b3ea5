/**
 * What the driver does before spawning a QEMU with mediated devices: run the doctor and stop with
 * its message when something fails, raise this process's soft RLIMIT_MEMLOCK (QEMU inherits it),
 * and find the render node egl-headless should use. One call for the VM layer's start (vm/launch.ts).
 */
import os from 'node:os';
import { VmdeskError } from '../common/errors.js';
import type { VmDefinition } from '../common/vm-types.js';
import type { QemuCaps } from '../common/host-types.js';
import { ensureMemlockFor } from '../host/memlock.js';
import type { NativeHost } from '../../native/index.js';
import { assignmentDisplayKind } from './describe.js';
import { discoverMdev } from './discover.js';
import { assertMdevReady, checkMdev, type OtherVm } from './doctor.js';
import { etcGroupLookup, renderNodeFor, type GroupLookup } from './host-checks.js';
import { nodeMdevFs, rootsFromEnv, type MdevFs, type MdevRoots } from './sysfs-io.js';

export interface MdevStartDeps {
  native: NativeHost;
  fs?: MdevFs;
  roots?: MdevRoots;
  groups?: GroupLookup;
  user?: string;
  kernelRelease?: string;
}

export interface MdevStartPlan {
  /** For buildQemuArgv: the render node of the first dma-buf vGPU's parent, when it has one. */
  renderNode?: string;
}

/**
 * MUST be called right before the spawn (the memlock raise is inherited by children spawned
 * after it). Throws VmdeskError('unsupported') listing every failed check with its fix, or
 * VmdeskError('insufficient-resources') when the memlock limit cannot be raised. A VM without
 * mdevs returns {} without touching anything.
 */
export async function prepareMdevStart(
  def: VmDefinition,
  caps: QemuCaps,
  others: readonly OtherVm[],
  deps: MdevStartDeps,
): Promise<MdevStartPlan> {
  const mdevs = def.mdevs ?? [];
  if (mdevs.length === 0) return {};
  const fs = deps.fs ?? nodeMdevFs;
  const roots = deps.roots ?? rootsFromEnv(process.env);
  const user = deps.user ?? os.userInfo().username;
  const inventory = await discoverMdev({ fs, roots });
  const checks = await checkMdev({
    fs,
    roots,
    native: deps.native,
    groups: deps.groups ?? etcGroupLookup(fs),
    user,
    kernelRelease: deps.kernelRelease ?? os.release(),
    vm: def,
    others,
    caps,
    inventory,
  });
  assertMdevReady(def.name, checks);
  const raise = ensureMemlockFor(deps.native, def.memoryMiB * 2 ** 20, user);
  if (!raise.ok)
    throw new VmdeskError('insufficient-resources', `"${def.name}" cannot start: ${raise.reason}.\nFix: ${raise.fix}`);
  const gl =
    def.display === 'none' ? undefined : mdevs.find((m) => assignmentDisplayKind(m.type, m.display) === 'dmabuf');
  const renderNode = await renderNodeFor(fs, roots, gl?.parent);
  return renderNode ? { renderNode } : {};
}
