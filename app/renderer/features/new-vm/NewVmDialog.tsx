import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { api } from '../../api/current.js';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { Field } from '../../components/Field.js';
import { AccelField, CpusField, MemoryField } from '../../components/VmFields.js';
import { Notice } from '../../components/Notice.js';
import { closeDialog, defineVm } from '../../store/actions.js';
import { store } from '../../store/store.js';
import {
  DEFAULT_FORM,
  placeError,
  toDefineInput,
  type FieldId,
  type FormErrors,
  type NewVmForm,
} from './new-vm-form.js';

export function NewVmDialog() {
  const [form, setForm] = useState<NewVmForm>(DEFAULT_FORM);
  const [errors, setErrors] = useState<FormErrors>({});
  const [busy, setBusy] = useState(false);
  /** A sentence when Preferences or the environment decide the accelerator, else null. */
  const [accelSource, setAccelSource] = useState<string | null>(null);
  const accelTouched = useRef(false);
  const base = useId();

  // The default accelerator of Preferences, unless the user chose already. VMDESK_ACCEL is not
  // copied into the VM (it decides at every start while it is set): the hint names it instead.
  useEffect(() => {
    let live = true;
    api()
      .call('settings.get', {})
      .then(
        (r) => {
          if (!live) return;
          if (r.sources.defaultAccel === 'file') {
            if (!accelTouched.current) setForm((f) => ({ ...f, accel: r.values.defaultAccel }));
            setAccelSource(' Chosen first from Preferences (Default accelerator).');
          } else if (r.sources.defaultAccel === 'env')
            setAccelSource(
              ` ${r.env.defaultAccel}=${r.values.defaultAccel} is set: it decides at every start, whatever is chosen here.`,
            );
        },
        () => undefined, // the form works without it: Automatic, as before settings existed
      );
    return () => {
      live = false;
    };
  }, []);
  const formId = `${base}-form`;
  const change = <K extends keyof NewVmForm>(k: K, value: NewVmForm[K]) => {
    setForm((f) => ({ ...f, [k]: value }));
    const field: FieldId = k;
    if (errors[field]) setErrors((x) => ({ ...x, [field]: undefined }));
  };
  const set = (k: 'name' | 'disk' | 'iso') => (e: { target: { value: string } }) => change(k, e.target.value);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    // This computer's VMs: a new VM is made here, and the driver refuses a name one of them has.
    const taken = Object.values(store.getState().vms)
      .filter((v) => !v.host)
      .map((v) => v.name);
    const r = toDefineInput(form, taken);
    if ('errors' in r) {
      setErrors(r.errors);
      // To the first field to fix, once the errors are drawn (a screen reader reads its error first).
      requestAnimationFrame(() =>
        document.getElementById(formId)?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(),
      );
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      await defineVm(r.input);
    } catch (err) {
      setErrors(placeError(err));
      setBusy(false);
    }
  };

  return (
    <Dialog
      title="New virtual machine"
      onClose={closeDialog}
      footer={
        <>
          <Button onClick={closeDialog}>Cancel</Button>
          <Button variant="primary" type="submit" form={formId} disabled={busy}>
            {busy ? 'Creating…' : 'Create'}
          </Button>
        </>
      }
    >
      <form id={formId} className="form" onSubmit={(e) => void submit(e)} noValidate>
        {errors.form ? <Notice tone="error">{errors.form}</Notice> : null}
        <Field id={`${base}-name`} label="Name" error={errors.name}>
          {(p) => (
            <input
              {...p}
              type="text"
              value={form.name}
              onChange={set('name')}
              autoFocus
              autoComplete="off"
              spellCheck={false}
              placeholder="e.g. debian-12"
            />
          )}
        </Field>
        <div className="field-row">
          <MemoryField
            id={`${base}-memory`}
            value={form.memory}
            onChange={(v) => change('memory', v)}
            error={errors.memory}
          />
          <CpusField id={`${base}-cpus`} value={form.cpus} onChange={(v) => change('cpus', v)} error={errors.cpus} />
          <Field id={`${base}-disk`} label="Disk size (GiB)" error={errors.disk}>
            {(p) => <input {...p} type="number" inputMode="decimal" min={0} value={form.disk} onChange={set('disk')} />}
          </Field>
        </div>
        <Field
          id={`${base}-iso`}
          label="ISO path"
          error={errors.iso}
          hint="A path on the machine running vmdesk. Leave empty to boot from the disk."
        >
          {(p) => (
            <input
              {...p}
              type="text"
              value={form.iso}
              onChange={set('iso')}
              autoComplete="off"
              spellCheck={false}
              placeholder="/home/you/Downloads/debian-12.iso"
            />
          )}
        </Field>
        <AccelField
          id={`${base}-accel`}
          value={form.accel}
          onChange={(v) => {
            accelTouched.current = true;
            change('accel', v);
          }}
          error={errors.accel}
          hint={
            <>
              Automatic uses KVM (Linux) or HVF (macOS) when available, otherwise TCG emulation.
              {accelSource ?? ''}
            </>
          }
        />
      </form>
    </Dialog>
  );
}
