/**
 * The whole window takes a dropped ISO: a full-window overlay while a file is dragged over it,
 * and the wizard on drop. Over a VM (its row in the list or its view, marked `data-drop-vm`), the
 * drop puts the ISO into that VM's CD-ROM drive instead. Electron's "Open with" / second instance
 * arrive here too (onOpenIso).
 */
import { useEffect } from 'react';
import { IconUpload } from '../../components/icons.js';
import { useVmdesk } from '../../store/store.js';
import { openIsoFile, openIsoPath, setDragging } from '../../store/wizard-actions.js';
import { carriesFiles, pickDroppedFile } from './drop.js';
import { store } from '../../store/store.js';
import { dropIsoOnVm, refuseIsoDrop, setDragOverVm } from '../../store/iso-drop-actions.js';

/** The VM whose row or view is under the pointer (`data-drop-vm` on it), if any. */
function vmUnder(target: EventTarget | null): string | null {
  const el = target instanceof Element ? target.closest<HTMLElement>('[data-drop-vm]') : null;
  return el?.dataset.dropVm || null;
}

function busyCreating(): boolean {
  const w = store.getState().wizard;
  return w?.step === 'form' && !!w.creating;
}

export function DropTarget() {
  const dragging = useVmdesk((s) => s.dragging);
  const overVm = useVmdesk((s) => (s.dragOverVm ? s.vms[s.dragOverVm] : undefined));

  useEffect(() => {
    // dragenter/dragleave fire for every element crossed: count them to know when the drag left the window.
    let depth = 0;
    const onEnter = (e: DragEvent) => {
      if (!carriesFiles(e.dataTransfer?.types)) return;
      depth++;
      setDragging(true);
    };
    const onLeave = (e: DragEvent) => {
      if (!carriesFiles(e.dataTransfer?.types)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) {
        setDragging(false);
        setDragOverVm(null);
      }
    };
    const onOver = (e: DragEvent) => {
      if (!carriesFiles(e.dataTransfer?.types)) return;
      // Without this the browser opens the file itself (navigating away from vmdesk).
      e.preventDefault();
      const vm = vmUnder(e.target);
      setDragOverVm(vm);
      if (e.dataTransfer) e.dataTransfer.dropEffect = !vm && busyCreating() ? 'none' : 'copy';
    };
    const onDrop = (e: DragEvent) => {
      if (!carriesFiles(e.dataTransfer?.types)) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      setDragOverVm(null);
      const vm = vmUnder(e.target);
      const picked = pickDroppedFile(Array.from(e.dataTransfer?.files ?? []));
      if (vm) {
        if ('problem' in picked) refuseIsoDrop(vm, picked.problem);
        else void dropIsoOnVm(vm, picked.file);
        return;
      }
      if (busyCreating()) return;
      if ('problem' in picked)
        store.setState({ wizard: { step: 'failed', fileName: 'The drop', message: picked.problem } });
      else void openIsoFile(picked.file);
    };
    window.addEventListener('dragenter', onEnter);
    window.addEventListener('dragleave', onLeave);
    window.addEventListener('dragover', onOver);
    window.addEventListener('drop', onDrop);
    const offOpen = window.vmdeskShell?.onOpenIso(({ path }) => {
      if (!busyCreating()) void openIsoPath(path);
    });
    return () => {
      window.removeEventListener('dragenter', onEnter);
      window.removeEventListener('dragleave', onLeave);
      window.removeEventListener('dragover', onOver);
      window.removeEventListener('drop', onDrop);
      offOpen?.();
    };
  }, []);

  if (!dragging) return null;
  return (
    <div className={overVm ? 'drop-overlay drop-overlay-vm' : 'drop-overlay'} data-testid="drop-overlay">
      <div className="drop-card">
        <span className="drop-icon" aria-hidden="true">
          <IconUpload />
        </span>
        {overVm ? (
          <>
            <p className="drop-title">Drop to insert the ISO into “{overVm.name}”</p>
            <p className="muted">It goes into the first empty CD-ROM drive (you choose one when all are full).</p>
          </>
        ) : (
          <>
            <p className="drop-title">Drop the ISO to create a VM</p>
            <p className="muted">
              vmdesk reads what it installs and proposes a VM for it. Drop it on a VM to insert it there instead.
            </p>
          </>
        )}
      </div>
    </div>
  );
}
