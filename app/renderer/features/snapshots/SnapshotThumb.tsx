import { useEffect, useRef, useState } from 'react';
import type { SnapshotInfo } from '../../../main/common/contract.js';
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
  if (shown.step === 'png')
    return (
      <div ref={ref} className="snap-thumb">
        <img src={`data:image/png;base64,${shown.png}`} alt={`Screen of ${vmName} at “${snap.name}”`} />
      </div>
    );
  return (
    <div ref={ref} className={`snap-thumb snap-thumb-${shown.step}`} aria-hidden="true">
      {shown.step === 'failed' ? 'No picture' : ''}
    </div>
  );
}
