/** The create-from-ISO wizard: one dialog through upload, inspection, the form (or the failure). */
import { useId, useEffect, useState } from 'react';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { Notice } from '../../components/Notice.js';
import { useVmdesk, type WizardStep } from '../../store/store.js';
import { closeWizard } from '../../store/wizard-actions.js';
import { progressText } from './progress.js';
import { discBoots } from './wizard-form.js';
import { WizardFormFooter, WizardFormStep } from './WizardFormStep.js';

/** Re-renders every `ms` while mounted (the speed keeps moving even between progress events). */
function useTick(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

function UploadStep({ w }: { w: Extract<WizardStep, { step: 'upload' }> }) {
  const now = useTick(500);
  return (
    <div className="wizard-upload">
      <p>
        Uploading <strong>{w.fileName}</strong> to the ISO library on the machine running vmdesk.
      </p>
      <progress className="progress" max={Math.max(w.total, 1)} value={w.loaded} aria-label="Upload progress" />
      <p className="wizard-upload-line" aria-live="polite" data-testid="upload-progress">
        {progressText(w.loaded, w.total, now - w.startedAt)}
      </p>
      <p className="muted small">Dropping the same file again later reuses the stored copy.</p>
    </div>
  );
}

function Body({ w, formId }: { w: WizardStep; formId: string }) {
  if (w.step === 'upload') return <UploadStep w={w} />;
  if (w.step === 'inspect')
    return (
      <p role="status" className="wizard-reading">
        <span className="spinner" aria-hidden="true" />
        Reading {w.fileName}…
      </p>
    );
  if (w.step === 'failed') {
    return (
      <Notice tone="error" title={`“${w.fileName}” cannot be used`}>
        <p>{w.message}</p>
        {w.discarded ? <p className="small">Nothing was kept: the uploaded copy was deleted.</p> : null}
      </Notice>
    );
  }
  return <WizardFormStep key={w.plan.info.path} plan={w.plan} formId={formId} busy={!!w.creating} />;
}

function Footer({ w, formId }: { w: WizardStep; formId: string }) {
  if (w.step === 'form') return <WizardFormFooter formId={formId} creating={w.creating} boots={discBoots(w.plan)} />;
  if (w.step === 'upload') return <Button onClick={closeWizard}>Cancel upload</Button>;
  return <Button onClick={closeWizard}>{w.step === 'failed' ? 'Close' : 'Cancel'}</Button>;
}

export function CreateWizard() {
  const w = useVmdesk((s) => s.wizard);
  const formId = `${useId()}-create`;
  if (!w) return null;
  const busy = w.step === 'form' && !!w.creating;
  return (
    <Dialog
      title="Create a virtual machine"
      onClose={() => {
        if (!busy) closeWizard();
      }}
      footer={<Footer w={w} formId={formId} />}
    >
      <Body w={w} formId={formId} />
    </Dialog>
  );
}
