/**
 * An ISO dropped on a VM (its row in the list, or its view): uploaded into the ISO library first
 * in a browser (as the create wizard does), then put into the VM's first empty CD-ROM drive; when
 * every drive holds a disc, or there is none, the user chooses one (or a new drive). A newer drop
 * supersedes an older one.
 */
import { fileIntake } from '../api/current.js';
import type { UploadHandle } from '../api/file-intake.js';
import { baseName, cdromLive, dropDrive } from '../features/vm-details/device-model.js';
import { insertCdrom, messageOf, selectVm, setCdromDrives } from './actions.js';
import { store, type IsoDropStep } from './store.js';

let generation = 0;
let upload: UploadHandle | null = null;

function setStep(gen: number, step: IsoDropStep | null): void {
  if (gen === generation) store.setState({ isoDrop: step });
}

function begin(): number {
  upload?.cancel();
  upload = null;
  return ++generation;
}

/** The drop target under a dragged file: the VM whose row or view it is over, if any. */
export function setDragOverVm(id: string | null): void {
  if (store.getState().dragOverVm !== id) store.setState({ dragOverVm: id });
}

/** "Inserted debian.iso into CD-ROM 2 of “web”: the guest sees it now." */
function doneMessage(vmId: string, fileName: string, drive: number): string {
  const vm = store.getState().vms[vmId];
  const name = vm?.name ?? 'the VM';
  const when = vm && cdromLive(vm, drive) ? 'the guest sees it now' : 'the VM has it from its next start';
  return `Inserted ${fileName} into CD-ROM ${drive + 1} of “${name}”: ${when}.`;
}

/**
 * Puts the ISO at `path` into `drive` of the VM; `drive` one past the last adds a drive first.
 * Resolves when done or failed (shown in the drop's dialog).
 */
export async function insertDroppedIso(vmId: string, path: string, drive: number, gen = generation): Promise<void> {
  const fileName = baseName(path);
  setStep(gen, { step: 'inserting', vmId, fileName, path });
  try {
    const vm = store.getState().vms[vmId];
    const drives = vm?.definition?.cdroms.length ?? 0;
    if (drive >= drives) await setCdromDrives(vmId, drive + 1);
    await insertCdrom(vmId, path, drive);
    setStep(gen, { step: 'done', vmId, fileName, message: doneMessage(vmId, fileName, drive) });
  } catch (err) {
    setStep(gen, { step: 'failed', vmId, fileName, message: messageOf(err) });
  }
}

/** The ISO is on the driver's machine now: into the first empty drive, or ask. */
async function place(gen: number, vmId: string, path: string): Promise<void> {
  const vm = store.getState().vms[vmId];
  const fileName = baseName(path);
  if (!vm?.definition)
    return setStep(gen, {
      step: 'failed',
      vmId,
      fileName,
      message: `“${vm?.name ?? 'This VM'}” cannot be read, so nothing can be inserted into it.`,
    });
  const where = dropDrive(vm.definition.cdroms);
  if ('choose' in where) return setStep(gen, { step: 'choose', vmId, fileName, path });
  return insertDroppedIso(vmId, path, where.drive, gen);
}

/** A file dropped on VM `vmId`: its own path in Electron; uploaded first in a browser. */
export async function dropIsoOnVm(vmId: string, file: File): Promise<void> {
  const gen = begin();
  selectVm(vmId);
  const intake = fileIntake();
  if (!intake)
    return setStep(gen, {
      step: 'failed',
      vmId,
      fileName: file.name,
      message: 'This page cannot take files. Type the ISO path under CD-ROM drives in Settings.',
    });
  if (intake.kind === 'path') {
    const path = intake.pathFor(file);
    if (!path)
      return setStep(gen, {
        step: 'failed',
        vmId,
        fileName: file.name,
        message: `"${file.name}" has no path on this computer (was it dragged from another app?). Save it to a folder first, then drop it again.`,
      });
    return place(gen, vmId, path);
  }
  setStep(gen, { step: 'upload', vmId, fileName: file.name, loaded: 0, total: file.size });
  const handle = intake.upload(file, ({ loaded, total }) => {
    const s = store.getState().isoDrop;
    if (s?.step === 'upload') setStep(gen, { ...s, loaded, total });
  });
  upload = handle;
  try {
    const { path } = await handle.done;
    await place(gen, vmId, path);
  } catch (err) {
    setStep(gen, { step: 'failed', vmId, fileName: file.name, message: messageOf(err) });
  } finally {
    if (upload === handle) upload = null;
  }
}

/** Closes the drop's dialog; a running upload is aborted (the server deletes what it received). */
export function closeIsoDrop(): void {
  begin();
  store.setState({ isoDrop: null });
}

/** Reports a drop that carried nothing usable, on the VM it was dropped on. */
export function refuseIsoDrop(vmId: string, message: string): void {
  const gen = begin();
  setStep(gen, { step: 'failed', vmId, fileName: 'The drop', message });
}
