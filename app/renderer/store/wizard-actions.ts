/**
 * The create-from-ISO wizard's part of the store: a dropped or picked ISO goes through upload
 * (browser only), inspection, the form, and vm.create. A newer drop supersedes an older one:
 * each run has a generation, and results of an older generation are dropped.
 */
import type { CallParams } from '../../main/common/contract.js';
import { VmdeskError } from '../../main/common/errors.js';
import type { VmSummary } from '../../main/common/vm-types.js';
import { fileIntake } from '../api/current.js';
import type { UploadHandle } from '../api/file-intake.js';
import { applyVmChanged, messageOf, requireApi } from './actions.js';
import { store, type WizardStep } from './store.js';

let generation = 0;
let upload: UploadHandle | null = null;

function setStep(gen: number, step: WizardStep | null): void {
  if (gen === generation) store.setState({ wizard: step });
}

function baseName(p: string): string {
  return p.split(/[/\\]/).pop() ?? p;
}

function begin(): number {
  upload?.cancel();
  upload = null;
  return ++generation;
}

export function setDragging(dragging: boolean): void {
  if (store.getState().dragging !== dragging) store.setState({ dragging });
}

/** Inspects an ISO that is already on the driver's machine and opens the form for it. */
export async function openIsoPath(path: string, gen = begin()): Promise<void> {
  const fileName = baseName(path);
  setStep(gen, { step: 'inspect', fileName });
  try {
    const plan = await requireApi().call('iso.inspect', { path });
    setStep(gen, { step: 'form', plan });
  } catch (err) {
    setStep(gen, { step: 'failed', fileName, message: messageOf(err) });
  }
}

/** A dropped or chosen file: its own path in Electron; uploaded first in a browser. */
export async function openIsoFile(file: File): Promise<void> {
  const gen = begin();
  store.setState({ dialog: null });
  const intake = fileIntake();
  if (!intake)
    return setStep(gen, {
      step: 'failed',
      fileName: file.name,
      message: 'This page cannot take files. Use New VM and type the ISO path.',
    });
  if (intake.kind === 'path') {
    const path = intake.pathFor(file);
    if (!path)
      return setStep(gen, {
        step: 'failed',
        fileName: file.name,
        message: `"${file.name}" has no path on this computer (was it dragged from another app?). Save it to a folder first, then drop it again.`,
      });
    return openIsoPath(path, gen);
  }
  setStep(gen, { step: 'upload', fileName: file.name, loaded: 0, total: file.size, startedAt: Date.now() });
  const handle = intake.upload(file, ({ loaded, total }) => {
    const w = store.getState().wizard;
    if (w?.step === 'upload') setStep(gen, { ...w, loaded, total });
  });
  upload = handle;
  try {
    const { path, plan } = await handle.done;
    if (plan) setStep(gen, { step: 'form', plan });
    else await openIsoPath(path, gen);
  } catch (err) {
    const discarded = err instanceof VmdeskError && err.details?.discarded === true;
    setStep(gen, { step: 'failed', fileName: file.name, message: messageOf(err), discarded });
  } finally {
    if (upload === handle) upload = null;
  }
}

/** "From ISO…" in Electron: the native file dialog. */
export async function pickIsoPath(): Promise<void> {
  const intake = fileIntake();
  if (intake?.kind !== 'path') return;
  const path = await intake.pick();
  if (path) await openIsoPath(path);
}

/** Closes the wizard; a running upload is aborted (the server deletes what it received). */
export function closeWizard(): void {
  begin();
  store.setState({ wizard: null });
}

/**
 * vm.create, then the new VM is selected: on its Screen tab when it was started (the console
 * is what one wants to see), else on its Overview. Errors are thrown to the form.
 */
export async function createFromIso(params: CallParams<'vm.create'>): Promise<VmSummary> {
  const setCreating = (creating: { name: string; start: boolean; known: string[] } | undefined) => {
    const w = store.getState().wizard;
    if (w?.step === 'form') store.setState({ wizard: { ...w, creating } });
  };
  setCreating({ name: params.name ?? '', start: params.start === true, known: Object.keys(store.getState().vms) });
  let vm: VmSummary;
  try {
    vm = await requireApi().call('vm.create', params);
  } catch (err) {
    setCreating(undefined);
    throw err;
  }
  applyVmChanged(vm);
  generation++;
  store.setState({
    selectedId: vm.id,
    removed: null,
    tab: params.start ? 'screen' : 'overview',
    wizard: null,
    dialog: null,
  });
  return vm;
}
