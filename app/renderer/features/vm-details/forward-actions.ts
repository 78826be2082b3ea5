/**
 * The Port forwards card's calls: each shows the VM's new summary at once (the vm.changed push
 * follows with the same). Refusals are thrown to the card, which places them at its form.
 */
import type { VmSummary } from '../../../main/common/vm-types.js';
import { applyVmChanged, requireApi } from '../../store/actions.js';
import { store } from '../../store/store.js';
import type { ForwardInput, RemoveForwardInput } from './forward-form.js';

function show(vm: VmSummary): VmSummary {
  // A VM deleted meanwhile (its vm.removed came first) is not brought back.
  if (store.getState().vms[vm.id]) applyVmChanged(vm);
  return vm;
}

/** Adds a forward: a running VM listens on it at once, a stopped one from its next start. */
export async function addForward(vmId: string, forward: ForwardInput): Promise<VmSummary> {
  return show(await requireApi().call('vm.addForward', { vm: vmId, forward }));
}

/** Removes the forward on a host socket: a running VM stops listening there at once. */
export async function removeForward(input: RemoveForwardInput): Promise<VmSummary> {
  return show(await requireApi().call('vm.removeForward', input));
}
