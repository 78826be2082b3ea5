import { useEffect, useRef, useState } from 'react';
import type { SnapshotInfo } from '../../../main/common/contract.js';
import { Dialog } from '../../components/Dialog.js';
import { formatDateTime } from '../vm-details/format.js';
import { snapshotThumbnail } from './snapshot-actions.js';

type Shown = { step: 'waiting' } | { step: 'png'; png: string } | { step: 'none' } | { step: 'failed' };

/**
 * The screen at the moment of a snapshot, fetched once it scrolls into view (and then cached for
 * the window's life). A snapshot without a picture — taken while the VM was off, or headless —
 * shows what it is instead.
 */
export function SnapshotThumb({ vm, vmName, snap }: { vm: string; vmName: string; snap: SnapshotInfo }) {
  const ref = useRef<HTMLDivElement>(null);
  const [visible, setVisible] = useState(typeof IntersectionObserver === 'undefined');
  const [shown, setShown] = useState<Shown>({ step: 'waiting' });
  const [large, setLarge] = useState(false);

  useEffect(() => {
    const el = ref.current;
    if (visible || !el) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setVisible(true);
    });
    io.observe(el);
    return () => io.disconnect();
  }, [visible]);

  const { name, createdAt, thumbnail } = snap;
  useEffect(() => {
    if (!thumbnail || !visible) return;
    let live = true;
    snapshotThumbnail(vm, { name, createdAt }).then(
      (png) => live && setShown(png ? { step: 'png', png } : { step: 'none' }),
      () => live && setShown({ step: 'failed' }),
    );
    return () => {
      live = false;
    };
  }, [vm, name, createdAt, thumbnail, visible]);

  if (!snap.thumbnail || shown.step === 'none')
    return (
      <div ref={ref} className="snap-thumb snap-thumb-none" aria-hidden="true">
        {snap.withMemory ? 'No screen' : 'Disks only'}
      </div>
    );
  if (shown.step === 'png') {
    const src = `data:image/png;base64,${shown.png}`;
    return (
      <div ref={ref} className="snap-thumb">
        <button
          type="button"
          className="snap-thumb-button"
          aria-label={`Show the screen at “${snap.name}” larger`}
          onClick={() => setLarge(true)}
        >
          <img src={src} alt={`Screen of ${vmName} at “${snap.name}”`} />
        </button>
        {large ? (
          <Dialog
            wide
            title={`“${snap.name}”`}
            subtitle={`The screen of ${vmName} on ${formatDateTime(snap.createdAt)}`}
            onClose={() => setLarge(false)}
          >
            <img className="snap-screen" src={src} alt={`Screen of ${vmName} at “${snap.name}”, large`} />
          </Dialog>
        ) : null}
      </div>
    );
  }
  return (
    <div ref={ref} className={`snap-thumb snap-thumb-${shown.step}`} aria-hidden="true">
      {shown.step === 'failed' ? 'No picture' : ''}
    </div>
  );
}
