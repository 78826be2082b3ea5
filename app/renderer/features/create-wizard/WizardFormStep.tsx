/** The wizard's form: what the ISO is, the proposed VM (all editable), Create / Create and start. */
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { sameVmName } from '../../../main/common/names.js';
import type { IsoPlan } from '../../store/store.js';
import { Button } from '../../components/Button.js';
import { Field } from '../../components/Field.js';
import { CheckField } from '../../components/CheckField.js';
import { CpusField, MemoryField } from '../../components/VmFields.js';
import { Notice } from '../../components/Notice.js';
import { useVmdesk, type WizardStep } from '../../store/store.js';
import { closeWizard, createFromIso } from '../../store/wizard-actions.js';
import { formatBytes } from '../vm-details/format.js';
import {
  bootModes,
  FIRMWARE_CHOICES,
  firmwareWhy,
  formFromPlan,
  isWindows,
  loadDriverHint,
  offersDrivers,
  placeCreateError,
  recognition,
  toCreateParams,
  tpmWhy,
  windowsReadyLines,
  type Firmware,
  type WizardErrors,
  type WizardField,
  type WizardForm,
} from './wizard-form.js';

function IsoSummary({ plan }: { plan: IsoPlan }) {
  const file = plan.info.path.split(/[/\\]/).pop();
  const recognised = plan.os.source !== 'generic';
  return (
    <section className="wizard-os" aria-label="Installer image">
      <div className="wizard-os-name">{plan.os.name || plan.info.volumeId || file}</div>
      <div className={recognised ? 'wizard-os-ok' : 'muted'}>{recognition(plan)}</div>
      <dl className="rows wizard-os-rows">
        <div className="row">
          <dt>Boots with</dt>
          <dd>{bootModes(plan)}</dd>
        </div>
        <div className="row">
          <dt>File</dt>
          <dd>
            <code className="path" title={plan.info.path}>
              {file}
            </code>{' '}
            <span className="muted">({formatBytes(plan.info.sizeBytes)})</span>
          </dd>
        </div>
      </dl>
    </section>
  );
}

type Creating = NonNullable<Extract<WizardStep, { step: 'form' }>['creating']>;

/** "Creating disk…" until the new VM shows up in the list (vm.changed), then "Starting…". */
function CreateProgress({ creating }: { creating: Creating }) {
  const appeared = useVmdesk((s) =>
    Object.values(s.vms).some((v) => !creating.known.includes(v.id) && sameVmName(v.name, creating.name)),
  );
  return (
    <span role="status" className="wizard-progress">
      <span className="spinner" aria-hidden="true" />
      {appeared && creating.start ? 'Starting…' : 'Creating disk…'}
    </span>
  );
}

/**
 * The dialog's footer for the form. "Create and start" comes first in the DOM so that Enter in
 * a field (implicit submission: the first submit button) creates and starts; CSS puts it last.
 * A disc that does not boot offers Create only: starting would only reach "No bootable device".
 */
export function WizardFormFooter({
  formId,
  creating,
  boots,
}: {
  formId: string;
  creating: Creating | undefined;
  boots: boolean;
}) {
  const busy = !!creating;
  const primary = useRef<HTMLButtonElement>(null);
  // The dialog opened on an earlier step: give the one-click path the focus (Enter = create and start).
  useEffect(() => primary.current?.focus(), []);
  return (
    <div className="wizard-foot">
      {boots ? (
        <Button ref={primary} variant="primary" type="submit" form={formId} disabled={busy} data-start="true">
          Create and start
        </Button>
      ) : null}
      <Button
        ref={boots ? undefined : primary}
        variant={boots ? undefined : 'primary'}
        type="submit"
        form={formId}
        disabled={busy}
        data-start="false"
      >
        Create
      </Button>
      <Button onClick={closeWizard} disabled={busy}>
        Cancel
      </Button>
      {creating ? <CreateProgress creating={creating} /> : null}
    </div>
  );
}

export function WizardFormStep({ plan, formId, busy }: { plan: IsoPlan; formId: string; busy: boolean }) {
  const [form, setForm] = useState<WizardForm>(() => formFromPlan(plan));
  const [errors, setErrors] = useState<WizardErrors>({});
  const base = useId();

  const change = <K extends WizardField>(k: K, value: WizardForm[K]) => {
    setForm((f) => ({ ...f, [k]: value }));
    if (errors[k]) setErrors((x) => ({ ...x, [k]: undefined }));
  };
  const set = (k: 'name' | 'memory' | 'cpus' | 'disk' | 'drivers') => (e: { target: { value: string } }) =>
    change(k, e.target.value);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const submitter = (e.nativeEvent as SubmitEvent).submitter;
    const r = toCreateParams(form, plan, submitter?.dataset.start !== 'false');
    if ('errors' in r) return setErrors(r.errors);
    setErrors({});
    try {
      await createFromIso(r.params);
    } catch (err) {
      setErrors(placeCreateError(err, form.drivers));
    }
  };

  return (
    <form id={formId} className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy || undefined}>
      {errors.form ? <Notice tone="error">{errors.form}</Notice> : null}
      <IsoSummary plan={plan} />
      {plan.warnings.map((w) => (
        <Notice key={w} tone="warn">
          {w}
        </Notice>
      ))}
      <fieldset className="wizard-fields" disabled={busy}>
        <Field id={`${base}-name`} label="Name" error={errors.name}>
          {(p) => (
            <input {...p} type="text" value={form.name} onChange={set('name')} autoComplete="off" spellCheck={false} />
          )}
        </Field>
        <div className="field-row">
          <MemoryField
            id={`${base}-memory`}
            value={form.memory}
            onChange={(v) => set('memory')({ target: { value: v } })}
            error={errors.memory}
            hint={`Recommended ${plan.os.recommended.memoryMiB}`}
          />
          <CpusField
            id={`${base}-cpus`}
            value={form.cpus}
            onChange={(v) => set('cpus')({ target: { value: v } })}
            error={errors.cpus}
          />
          <Field id={`${base}-disk`} label="Disk size (GiB)" error={errors.disk} hint="Grows as used">
            {(p) => <input {...p} type="number" inputMode="decimal" min={0} value={form.disk} onChange={set('disk')} />}
          </Field>
        </div>
        <div className="wizard-security">
          <Field
            id={`${base}-firmware`}
            label="Firmware"
            error={errors.firmware}
            hint={firmwareWhy(plan, form.firmware)}
          >
            {(p) => (
              <select {...p} value={form.firmware} onChange={(e) => change('firmware', e.target.value as Firmware)}>
                {(Object.keys(FIRMWARE_CHOICES) as Firmware[]).map((k) => (
                  <option
                    key={k}
                    value={k}
                    disabled={
                      (k === 'uefi-secure' && plan.defaults.arch !== 'x86_64') ||
                      (k === 'bios' && plan.defaults.arch === 'aarch64')
                    }
                  >
                    {FIRMWARE_CHOICES[k]}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <CheckField
            id={`${base}-tpm`}
            label="TPM 2.0"
            checked={form.tpm}
            onChange={(on) => change('tpm', on)}
            error={errors.tpm}
            hint={tpmWhy(plan, form.tpm)}
          />
        </div>
        {isWindows(plan) ? (
          <WindowsReady
            plan={plan}
            drivers={form.drivers}
            error={errors.drivers}
            onDrivers={(v) => change('drivers', v)}
          />
        ) : null}
      </fieldset>
    </form>
  );
}

/**
 * What makes the VM ready for Windows, in a few lines, and the virtio driver disc: the one found
 * on this computer (attached unless unticked), or where vmdesk looked and a path to type.
 */
function WindowsReady({
  plan,
  drivers,
  error,
  onDrivers,
}: {
  plan: IsoPlan;
  drivers: string;
  error: string | undefined;
  onDrivers(path: string): void;
}) {
  const id = useId();
  const found = plan.defaults.drivers;
  const withDrivers = drivers.trim() !== '';
  return (
    <section className="wizard-ready" aria-labelledby={`${id}-title`}>
      <div className="wizard-ready-title" id={`${id}-title`}>
        Windows-ready
      </div>
      <ul className="wizard-ready-list">
        {windowsReadyLines(plan, withDrivers).map((l) => (
          <li key={l}>{l}</li>
        ))}
      </ul>
      {!offersDrivers(plan) ? null : found ? (
        <CheckField
          id={`${id}-drivers`}
          label={
            <>
              Attach virtio drivers (
              <code className="path" title={found}>
                {found}
              </code>
              ) as a second CD-ROM
            </>
          }
          checked={withDrivers}
          onChange={(on) => onDrivers(on ? found : '')}
          error={error}
          hint={withDrivers ? loadDriverHint(plan) : 'Without it: SATA and e1000e, slower but with drivers in Windows.'}
        />
      ) : (
        <Field
          id={`${id}-drivers`}
          label="Virtio driver disc (optional)"
          error={error}
          hint={
            <>
              No virtio-win.iso was found
              {(plan.driverSearch ?? []).length === 0 ? ' on this computer' : ' in '}
              {(plan.driverSearch ?? []).map((d, i, all) => (
                <span key={d}>
                  <code className="path">{d}</code>
                  {i < all.length - 2 ? ', ' : i === all.length - 2 ? ' or ' : ''}
                </span>
              ))}
              . Type the path of one for faster virtio devices, or leave this empty.
              {withDrivers ? ` ${loadDriverHint(plan)}` : null}
            </>
          }
        >
          {(p) => (
            <input
              {...p}
              type="text"
              value={drivers}
              onChange={(e) => onDrivers(e.target.value)}
              placeholder="/path/to/virtio-win.iso"
              autoComplete="off"
              spellCheck={false}
            />
          )}
        </Field>
      )}
      <p className="muted small">Settings → Guest devices changes these later.</p>
    </section>
  );
}
