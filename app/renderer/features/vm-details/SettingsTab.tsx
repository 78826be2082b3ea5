import { useId, useState, type FormEvent, type ReactNode } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { CheckField } from '../../components/CheckField.js';
import { Field } from '../../components/Field.js';
import { AccelField, CpusField, MemoryField } from '../../components/VmFields.js';
import { Notice } from '../../components/Notice.js';
import { messageOf, reloadVm, updateVm } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';
import { BootOrderField } from './BootOrderField.js';
import { CdromCard } from './CdromCard.js';
import { DesktopIntegrationCard } from './DesktopIntegrationCard.js';
import { DisksCard } from './DisksCard.js';
import { formatMiB } from './format.js';
import { ForwardsCard } from './ForwardsCard.js';
import { LibvirtSettings } from './LibvirtSettings.js';
import {
  AT_NEXT_START,
  AUTOSTART_NOTE,
  CLOCK_LABELS,
  DISK_BUS_LABELS,
  DISPLAY_LABELS,
  FIELD_LABELS,
  FIRMWARE_LABELS,
  NETWORK_LABELS,
  NIC_LABELS,
  nicNote,
  changedFields,
  describeSettings,
  diskBusNote,
  firmwareNote,
  formEdited,
  placeSettingsError,
  rebase,
  runsNow,
  secureBootNote,
  settingsBase,
  toUpdateInput,
  tpmNote,
  withFirmware,
  withNetwork,
  type Clock,
  type DiskBus,
  type Display,
  type Firmware,
  type NetworkMode,
  type NicModel,
  type SettingsBase,
  type SettingsErrors,
  type SettingsFieldId,
  type SettingsForm,
} from './settings-form.js';

/** What the user typed, against the version of the VM it was typed over. */
interface Draft {
  base: SettingsBase;
  form: SettingsForm;
}

/** Settings of a VM that can be read; a broken VM has nothing to edit. */
export function SettingsTab({ vm }: { vm: VmSummary }) {
  if (vm.host) return <LibvirtSettings vm={vm} host={vm.host} />;
  const fresh = settingsBase(vm);
  if (!fresh)
    return (
      <div className="settings">
        <Notice tone="error" title="Settings cannot be changed">
          <p>vmdesk cannot read this VM’s file, so there is nothing to edit. {vm.reason ?? ''}</p>
          <p>
            Repair the file (<code className="path">{vm.file}</code>) or delete the VM.
          </p>
        </Notice>
      </div>
    );
  return <SettingsEditor vm={vm} fresh={fresh} />;
}

function SettingsEditor({ vm, fresh }: { vm: VmSummary; fresh: SettingsBase }) {
  const online = useVmdesk((s) => s.connection === 'open');
  const [draft, setDraft] = useState<Draft | null>(null);
  const [errors, setErrors] = useState<SettingsErrors>({});
  const [busy, setBusy] = useState<'saving' | 'reloading' | null>(null);
  const [saved, setSaved] = useState(false);
  /** The driver's warning about the memory just saved (close to the host's), with that value. */
  const [notice, setNotice] = useState<{ memory: string; text: string } | null>(null);
  const base = useId();
  // Until the user types, the form follows the VM (a push from another window shows at once);
  // after that it keeps their text and the revision it was typed over, so a save over someone
  // else's change is refused instead of undoing it. Changes made meanwhile to what the form does
  // not show (disks, CD-ROM drives, forwards: their own buttons) do not make it stale.
  const edited = draft !== null && formEdited(draft.base.form, draft.form);
  const current: Draft = edited
    ? { base: rebase(draft.base, fresh), form: draft.form }
    : { base: fresh, form: fresh.form };
  const { form } = current;
  const live = runsNow(vm.state);
  const d = vm.definition;
  const pending = describeSettings(vm.pending, d);
  // What changed on disk under the user's edits (another window, the CLI): their save will be refused.
  const meanwhile =
    edited && current.base.revision !== fresh.revision
      ? describeSettings(changedFields(current.base.form, fresh.form), d)
      : [];

  const setForm = (next: SettingsForm, k: keyof SettingsForm) => {
    setDraft({ base: current.base, form: next });
    setSaved(false);
    if (errors[k] || errors.form) setErrors((x) => ({ ...x, [k]: undefined, form: undefined }));
  };
  const set = <K extends keyof SettingsForm>(k: K, value: SettingsForm[K]) => setForm({ ...form, [k]: value }, k);
  const text = (k: 'name' | 'memory' | 'cpus') => (e: { target: { value: string } }) => set(k, e.target.value);

  const discard = () => {
    setDraft(null);
    setErrors({});
  };

  const reload = async () => {
    setBusy('reloading');
    try {
      await reloadVm(vm.id);
      discard();
    } catch (err) {
      setErrors({ form: messageOf(err) });
    } finally {
      setBusy(null);
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = toUpdateInput(vm.id, current.base, form);
    if ('unchanged' in r) return;
    if ('errors' in r) {
      setErrors(r.errors);
      return;
    }
    setBusy('saving');
    setErrors({});
    try {
      const answer = await updateVm(r.input);
      setDraft(null);
      setSaved(true);
      setNotice(
        answer.notice ? { memory: String(answer.definition?.memoryMiB ?? form.memory), text: answer.notice } : null,
      );
    } catch (err) {
      setErrors(placeSettingsError(err));
    } finally {
      setBusy(null);
    }
  };

  /** The field's own hint, and while QEMU runs, that the change waits for the next start. */
  const hint = (k: SettingsFieldId, own?: ReactNode): ReactNode => {
    const later = live && AT_NEXT_START.includes(k);
    if (!later && !own) return undefined;
    return (
      <>
        {later ? <span className="applies-later">Applies at next start.</span> : null}
        {later && own ? ' ' : null}
        {own}
      </>
    );
  };

  const memoryMiB = Number(form.memory);
  const memoryNotice = notice && notice.memory === form.memory.trim() ? notice.text : null;
  const drives = d?.cdroms.length ?? 0;
  const secureBoot = d ? secureBootNote(d, form) : undefined;
  const stale = errors.stale !== undefined || (edited && current.base.revision !== fresh.revision);
  const locked = !online || busy !== null;
  return (
    <div className="settings">
      {live && pending.length > 0 ? (
        <Notice tone="warn" title="Pending changes — they apply at the next start">
          <ul className="pending-list" aria-label="Pending changes">
            {pending.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
          <p className="muted">
            The running VM keeps the settings it started with. Shut it down and start it again to use these (a reboot
            keeps the running settings).
          </p>
        </Notice>
      ) : live ? (
        <p className="muted settings-intro">
          “{vm.name}” is {vm.state}. Memory, CPUs, firmware, Secure Boot, TPM, boot order, display, network, guest
          devices, desktop integration and accelerator apply at its next start; a new name applies at once. Disks and
          CD-ROM discs below change in the running VM at once.
        </p>
      ) : (
        <p className="muted settings-intro">
          “{vm.name}” is {vm.state}: what you save here is used from its next start.
        </p>
      )}
      {stale ? (
        <Notice
          tone={errors.stale ? 'error' : 'warn'}
          title={errors.stale ? 'Not saved: this VM changed' : 'This VM changed while you were editing'}
        >
          <p>
            {errors.stale ??
              'Its settings were changed somewhere else (another window or the vmdesk command), so saving yours would be refused.'}
          </p>
          {meanwhile.length > 0 ? (
            <>
              <p className="notice-sub">Changed meanwhile</p>
              <ul className="pending-list" aria-label="Changed meanwhile">
                {meanwhile.map((m) => (
                  <li key={m}>{m}</li>
                ))}
              </ul>
            </>
          ) : null}
          <p className="muted">Reloading shows the settings as they are now; your edits are dropped.</p>
          <div className="card-actions">
            <Button variant="primary" disabled={locked} onClick={() => void reload()}>
              {busy === 'reloading' ? 'Reloading…' : 'Reload settings'}
            </Button>
          </div>
        </Notice>
      ) : null}
      {errors.form ? <Notice tone="error">{errors.form}</Notice> : null}

      <form
        className="form settings-form"
        aria-label={`Settings of ${vm.name}`}
        onSubmit={(e) => void submit(e)}
        noValidate
      >
        <fieldset className="card settings-group" disabled={locked}>
          <legend className="card-title">General</legend>
          <Field
            id={`${base}-name`}
            label={FIELD_LABELS.name}
            error={errors.name}
            hint="Only the name changes: the VM keeps its id and files."
          >
            {(p) => (
              <input
                {...p}
                type="text"
                value={form.name}
                onChange={text('name')}
                autoComplete="off"
                spellCheck={false}
              />
            )}
          </Field>
          <CheckField
            id={`${base}-autostart`}
            label={FIELD_LABELS.autostart}
            checked={form.autostart}
            onChange={(on) => set('autostart', on)}
            error={errors.autostart}
            hint={AUTOSTART_NOTE}
          />
        </fieldset>

        <fieldset className="card settings-group" disabled={locked}>
          <legend className="card-title">Hardware</legend>
          <div className="field-row settings-row">
            <MemoryField
              id={`${base}-memory`}
              value={form.memory}
              onChange={(v) => set('memory', v)}
              error={errors.memory}
              hint={hint(
                'memory',
                <>
                  {Number.isInteger(memoryMiB) && memoryMiB >= 1024 ? `That is ${formatMiB(memoryMiB)}.` : null}
                  {memoryNotice ? (
                    <span className="field-warning" role="status" data-testid="memory-notice">
                      {memoryNotice}
                    </span>
                  ) : null}
                </>,
              )}
            />
            <CpusField
              id={`${base}-cpus`}
              label={FIELD_LABELS.cpus}
              value={form.cpus}
              onChange={(v) => set('cpus', v)}
              error={errors.cpus}
              hint={hint('cpus')}
            />
            <AccelField
              id={`${base}-accel`}
              label={FIELD_LABELS.accel}
              value={form.accel}
              onChange={(v) => set('accel', v)}
              error={errors.accel}
              hint={hint('accel', 'Automatic uses KVM (Linux) or HVF (macOS) when available, otherwise TCG.')}
            />
          </div>
        </fieldset>

        <fieldset className="card settings-group" disabled={locked}>
          <legend className="card-title">Firmware and boot</legend>
          <div className="settings-split">
            <div className="settings-stack">
              <Field
                id={`${base}-firmware`}
                label={FIELD_LABELS.firmware}
                error={errors.firmware}
                hint={hint('firmware', d ? firmwareNote(d, form.firmware) : null)}
              >
                {(p) => (
                  <select
                    {...p}
                    value={form.firmware}
                    onChange={(e) => setForm(withFirmware(form, e.target.value as Firmware), 'firmware')}
                  >
                    {(Object.keys(FIRMWARE_LABELS) as Firmware[]).map((k) => (
                      <option key={k} value={k} disabled={k === 'bios' && d?.arch === 'aarch64'}>
                        {FIRMWARE_LABELS[k]}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              {d ? (
                <>
                  <CheckField
                    id={`${base}-secure-boot`}
                    label={FIELD_LABELS.secureBoot}
                    checked={form.secureBoot}
                    disabled={!secureBoot?.enabled}
                    onChange={(on) => set('secureBoot', on)}
                    error={errors.secureBoot}
                    hint={hint('secureBoot', secureBoot?.text)}
                  />
                  <CheckField
                    id={`${base}-tpm`}
                    label={FIELD_LABELS.tpm}
                    checked={form.tpm}
                    onChange={(on) => set('tpm', on)}
                    error={errors.tpm}
                    hint={hint('tpm', tpmNote(d, form.tpm))}
                  />
                </>
              ) : null}
            </div>
            <BootOrderField
              id={`${base}-boot`}
              form={form}
              cdromDrives={drives}
              onChange={(boot) => set('boot', boot)}
              error={errors.boot}
              hint={hint('boot', 'The firmware tries the checked devices from the top.')}
            />
          </div>
        </fieldset>

        <fieldset className="card settings-group" disabled={locked}>
          <legend className="card-title">Display and network</legend>
          <div className="field-row settings-row">
            <Field id={`${base}-display`} label={FIELD_LABELS.display} error={errors.display} hint={hint('display')}>
              {(p) => (
                <select {...p} value={form.display} onChange={(e) => set('display', e.target.value as Display)}>
                  {(Object.keys(DISPLAY_LABELS) as Display[]).map((k) => (
                    <option key={k} value={k}>
                      {DISPLAY_LABELS[k]}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field
              id={`${base}-network`}
              label={FIELD_LABELS.network}
              error={errors.network}
              hint={hint(
                'network',
                form.network === 'user'
                  ? 'The guest reaches the network through this computer (NAT); port forwards reach the guest.'
                  : (d?.network.forwards.length ?? 0) > 0
                    ? 'No network card. The port forwards stay stored but do nothing while the network is off.'
                    : 'No network card: the guest is offline.',
              )}
            >
              {(p) => (
                <select
                  {...p}
                  value={form.network}
                  onChange={(e) => setForm(withNetwork(form, e.target.value as NetworkMode), 'network')}
                >
                  {(Object.keys(NETWORK_LABELS) as NetworkMode[]).map((k) => (
                    <option key={k} value={k}>
                      {NETWORK_LABELS[k]}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
        </fieldset>

        <fieldset className="card settings-group" disabled={locked}>
          <legend className="card-title">Guest devices (advanced)</legend>
          <p className="muted settings-intro">
            What the guest has drivers for. Linux runs best on virtio; Windows has drivers for SATA and Intel e1000e,
            and needs the virtio-win drivers for virtio.
          </p>
          <div className="field-row settings-row">
            <Field
              id={`${base}-disk-bus`}
              label={FIELD_LABELS.diskBus}
              error={errors.diskBus}
              hint={hint('diskBus', d ? diskBusNote(d, form.diskBus) : null)}
            >
              {(p) => (
                <select {...p} value={form.diskBus} onChange={(e) => set('diskBus', e.target.value as DiskBus)}>
                  {(Object.keys(DISK_BUS_LABELS) as DiskBus[]).map((k) => (
                    <option key={k} value={k}>
                      {DISK_BUS_LABELS[k]}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field id={`${base}-nic`} label={FIELD_LABELS.nic} error={errors.nic} hint={hint('nic', nicNote(form.nic))}>
              {(p) => (
                <select {...p} value={form.nic} onChange={(e) => set('nic', e.target.value as NicModel)}>
                  {(Object.keys(NIC_LABELS) as NicModel[]).map((k) => (
                    <option key={k} value={k}>
                      {NIC_LABELS[k]}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field
              id={`${base}-clock`}
              label={FIELD_LABELS.clock}
              error={errors.clock}
              hint={hint(
                'clock',
                'What the guest’s hardware clock keeps: Windows expects local time, other systems UTC.',
              )}
            >
              {(p) => (
                <select {...p} value={form.clock} onChange={(e) => set('clock', e.target.value as Clock)}>
                  {(Object.keys(CLOCK_LABELS) as Clock[]).map((k) => (
                    <option key={k} value={k}>
                      {CLOCK_LABELS[k]}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <CheckField
            id={`${base}-hyperv`}
            label={FIELD_LABELS.hyperv}
            checked={form.hyperv}
            onChange={(on) => set('hyperv', on)}
            error={errors.hyperv}
            hint={hint(
              'hyperv',
              'Tells Windows it runs on a hypervisor (timers, spinlocks, APIC), so it runs faster under KVM. TCG and HVF ignore them; other guests do not need them.',
            )}
          />
        </fieldset>

        <DesktopIntegrationCard
          id={`${base}-desktop`}
          form={form}
          d={d}
          errors={errors}
          disabled={locked}
          set={set}
          hint={hint}
        />

        <div className="settings-actions">
          <Button variant="primary" type="submit" disabled={locked || !edited || stale}>
            {busy === 'saving' ? 'Saving…' : 'Save'}
          </Button>
          <Button disabled={busy !== null || !edited} onClick={discard}>
            Discard changes
          </Button>
          <span role="status" className="muted settings-status">
            {!online
              ? 'Not connected to vmdesk: changes cannot be saved now.'
              : saved && !edited
                ? live && pending.length > 0
                  ? 'Saved. The pending changes apply at the next start.'
                  : 'Saved.'
                : ''}
          </span>
        </div>
      </form>

      <section className="settings-devices" aria-labelledby={`${base}-devices`}>
        <h2 className="settings-section-title" id={`${base}-devices`}>
          Devices
        </h2>
        <p className="muted settings-intro">
          {live
            ? 'These change as you make them, without Save. Disks are plugged in and out of the running VM, and discs go into its drives at once; what it cannot take now waits for its next start and says so.'
            : 'These change as you make them, without Save, and are used from the next start.'}
        </p>
        <DisksCard vm={vm} />
        <CdromCard vm={vm} />
        <ForwardsCard vm={vm} />
      </section>
    </div>
  );
}
