/**
 * Preferences: the app settings (settings.json through `settings.get` / `settings.set`), every
 * field checked at once. A setting that an environment variable decides is shown read-only with
 * the variable's name; those read at start say that they apply at the next start.
 */
import { useEffect, useId, useState, type FormEvent, type ReactNode } from 'react';
import type { SettingKey, SettingsReport } from '../../../main/common/settings-types.js';
import { api } from '../../api/current.js';
import { Button } from '../../components/Button.js';
import { CheckField } from '../../components/CheckField.js';
import { Dialog } from '../../components/Dialog.js';
import { Field } from '../../components/Field.js';
import { Notice } from '../../components/Notice.js';
import { setSettings } from '../../store/actions.js';
import {
  APPLIED_AT_START,
  fieldOfError,
  formFromReport,
  toSettingsChange,
  type SettingsErrors,
  type SettingsForm,
} from './settings-form.js';

const IconPreferences = () => (
  <svg
    width={16}
    height={16}
    viewBox="0 0 16 16"
    fill="none"
    stroke="currentColor"
    strokeWidth={1.6}
    strokeLinecap="round"
    aria-hidden="true"
  >
    <path d="M2.5 4.5h6M11.5 4.5h2M2.5 11.5h2M7.5 11.5h6" />
    <circle cx="10" cy="4.5" r="1.5" />
    <circle cx="6" cy="11.5" r="1.5" />
  </svg>
);

/** The top bar's "Preferences…" button and its dialog (which keeps no state in the store). */
export function PreferencesButton() {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button icon={<IconPreferences />} onClick={() => setOpen(true)}>
        Preferences…
      </Button>
      {open ? <PreferencesDialog onClose={() => setOpen(false)} /> : null}
    </>
  );
}

const ACCELS = [
  ['auto', 'Automatic (KVM or HVF, else TCG)'],
  ['kvm', 'KVM'],
  ['hvf', 'HVF (macOS)'],
  ['tcg', 'TCG (emulation, slow)'],
] as const;
const FIRMWARES = [
  ['auto', 'Automatic (as the disc and the OS suit best)'],
  ['bios', 'BIOS, when the disc boots that way'],
  ['uefi', 'UEFI, when the disc boots that way'],
] as const;
const LEVELS = [
  ['error', 'Errors'],
  ['warn', 'Warnings'],
  ['info', 'Information'],
  ['debug', 'Debug'],
] as const;

type Choice = 'defaultAccel' | 'defaultFirmware' | 'logLevel';

/** One setting chosen from a list; disabled while an environment variable decides it. */
function ChoiceField<K extends Choice>(props: {
  id: string;
  label: string;
  error: string | undefined;
  hint: ReactNode;
  value: SettingsForm[K];
  options: readonly (readonly [SettingsForm[K], string])[];
  disabled: boolean;
  onChange(value: SettingsForm[K]): void;
}) {
  return (
    <Field id={props.id} label={props.label} error={props.error} hint={props.hint}>
      {(p) => (
        <select
          {...p}
          value={props.value}
          disabled={props.disabled}
          onChange={(e) => props.onChange(e.target.value as SettingsForm[K])}
        >
          {props.options.map(([v, label]) => (
            <option key={v} value={v}>
              {label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** A folder as a path on the machine running vmdesk (a browser cannot pick one there). */
function FolderField(props: {
  id: string;
  label: string;
  value: string;
  error: string | undefined;
  placeholder: string;
  hint: ReactNode;
  onChange(value: string): void;
}) {
  return (
    <Field id={props.id} label={props.label} error={props.error} hint={props.hint}>
      {(p) => (
        <input
          {...p}
          type="text"
          value={props.value}
          placeholder={props.placeholder}
          autoComplete="off"
          spellCheck={false}
          onChange={(e) => props.onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

export function PreferencesDialog({ onClose }: { onClose(): void }) {
  const [report, setReport] = useState<SettingsReport | null>(null);
  const [form, setForm] = useState<SettingsForm | null>(null);
  const [errors, setErrors] = useState<SettingsErrors>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [status, setStatus] = useState<ReactNode>(null);
  const [busy, setBusy] = useState(false);
  /** "Start vmdesk at login" as the system has it (desktop app only; null: not offered here). */
  const [loginItem, setLoginItem] = useState<boolean | null>(null);
  const [startAtLogin, setStartAtLogin] = useState(false);
  const base = useId();
  const formId = `${base}-form`;
  const shell = window.vmdeskShell;

  useEffect(() => {
    let live = true;
    shell?.loginItem().then(
      (on) => {
        if (!live) return;
        setLoginItem(on);
        setStartAtLogin(on ?? false);
      },
      () => undefined, // not offered: the checkbox stays hidden
    );
    api()
      .call('settings.get', {})
      .then(
        (r) => {
          if (!live) return;
          setReport(r);
          setForm(formFromReport(r));
        },
        (err: unknown) => live && setFailure((err as Error).message),
      );
    return () => {
      live = false;
    };
  }, []);

  const change = <K extends keyof SettingsForm>(k: K, value: SettingsForm[K]) => {
    setForm((f) => (f ? { ...f, [k]: value } : f));
    setStatus(null);
    if (errors[k]) setErrors((x) => ({ ...x, [k]: undefined }));
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!form || !report) return;
    const r = toSettingsChange(form, report);
    if ('errors' in r) {
      setErrors(r.errors);
      requestAnimationFrame(() =>
        document.getElementById(formId)?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(),
      );
      return;
    }
    const keys = Object.keys(r.change) as SettingKey[];
    const loginChanged = loginItem !== null && startAtLogin !== loginItem;
    if (keys.length === 0 && !loginChanged) {
      setStatus('Nothing to save: these are the settings in use.');
      return;
    }
    setBusy(true);
    setErrors({});
    setFailure(null);
    try {
      if (loginChanged && shell) {
        const on = await shell.loginItem(startAtLogin);
        setLoginItem(on);
        setStartAtLogin(on ?? false);
      }
      if (keys.length > 0) {
        const after = await api().call('settings.set', { values: r.change });
        setReport(after);
        setForm(formFromReport(after));
        setSettings(after);
      }
      const later = keys.filter((k) => APPLIED_AT_START.includes(k));
      const parts = [
        ...(later.some((k) => k.startsWith('web')) ? ['the web settings apply the next time vmdesk web starts'] : []),
        ...(later.includes('logCapBytes') ? ['the log size the next time vmdesk starts'] : []),
      ];
      setStatus(parts.length > 0 ? `Saved; ${parts.join(', and ')}.` : 'Saved.');
    } catch (err) {
      const message = (err as Error).message;
      const field = fieldOfError(message, (err as { details?: { field?: unknown } }).details?.field);
      if (field) setErrors({ [field]: message });
      else setFailure(message);
    } finally {
      setBusy(false);
    }
  };

  const fromEnv = (key: SettingKey): string | undefined =>
    report?.sources[key] === 'env' ? report.env[key] : undefined;
  /** The hint of a field: who decides it (the environment), when it applies, what it does. */
  const hint = (key: SettingKey, text: ReactNode): ReactNode => {
    const env = fromEnv(key);
    if (env)
      return (
        <>
          <strong>Set by {env}</strong>, which wins over this setting. Unset it and restart vmdesk to choose here.
        </>
      );
    return key === 'logCapBytes' ? (
      <>
        {text} <span className="applies-later">Applies at the next start.</span>
      </>
    ) : (
      text
    );
  };

  return (
    <Dialog
      title="Preferences"
      subtitle={report ? <code className="path">{report.file}</code> : undefined}
      onClose={onClose}
      footer={
        <>
          {status ? (
            <span className="settings-status" role="status">
              {status}
            </span>
          ) : null}
          <Button onClick={onClose}>Done</Button>
          <Button variant="primary" type="submit" form={formId} disabled={busy || !form}>
            {busy ? 'Saving…' : 'Save'}
          </Button>
        </>
      }
    >
      {failure ? <Notice tone="error">{failure}</Notice> : null}
      {!form ? (
        failure ? null : (
          <p className="muted">Loading the settings…</p>
        )
      ) : (
        <form id={formId} className="form" onSubmit={(e) => void submit(e)} noValidate aria-label="Preferences">
          {report?.notes.map((n) => (
            <Notice key={n} tone="warn">
              {n}
            </Notice>
          ))}
          <fieldset className="card settings-group">
            <legend className="card-title">New virtual machines</legend>
            <ChoiceField<'defaultAccel'>
              id={`${base}-accel`}
              label="Default accelerator"
              error={errors.defaultAccel}
              hint={hint('defaultAccel', 'For a new VM made without a choice of its own.')}
              value={form.defaultAccel}
              options={ACCELS}
              disabled={!!fromEnv('defaultAccel')}
              onChange={(v) => change('defaultAccel', v)}
            />
            <ChoiceField<'defaultFirmware'>
              id={`${base}-firmware`}
              label="Default firmware"
              error={errors.defaultFirmware}
              hint={hint(
                'defaultFirmware',
                'What the New VM from ISO wizard proposes when the disc boots that way (Windows 11 keeps UEFI with Secure Boot).',
              )}
              value={form.defaultFirmware}
              options={FIRMWARES}
              disabled={!!fromEnv('defaultFirmware')}
              onChange={(v) => change('defaultFirmware', v)}
            />
            <FolderField
              id={`${base}-vm-folder`}
              label="VM folder"
              value={form.vmFolder}
              error={errors.vmFolder}
              placeholder="vmdesk’s own (…/vmdesk/vms)"
              hint={hint(
                'vmFolder',
                'On the computer running vmdesk: where new VMs keep their disks, UEFI variables, TPM state and snapshots, each in a folder of its own. VMs made before stay where they are.',
              )}
              onChange={(v) => change('vmFolder', v)}
            />
            <FolderField
              id={`${base}-iso-folder`}
              label="ISO library folder"
              value={form.isoFolder}
              error={errors.isoFolder}
              placeholder="vmdesk’s own (…/vmdesk/isos)"
              hint={hint(
                'isoFolder',
                'On the computer running vmdesk: where ISOs dropped on a browser window are stored, and the .iso and .img files the ISO library lists.',
              )}
              onChange={(v) => change('isoFolder', v)}
            />
          </fieldset>
          <fieldset className="card settings-group">
            <legend className="card-title">Logs</legend>
            <div className="field-row settings-row">
              <ChoiceField<'logLevel'>
                id={`${base}-level`}
                label="Log level"
                error={errors.logLevel}
                hint={hint('logLevel', 'What the driver log keeps. Debug also logs every call vmdesk takes.')}
                value={form.logLevel}
                options={LEVELS}
                disabled={!!fromEnv('logLevel')}
                onChange={(v) => change('logLevel', v)}
              />
              <Field
                id={`${base}-cap`}
                label="Size of each log (MiB)"
                error={errors.logCapMiB}
                hint={hint(
                  'logCapBytes',
                  'Driver, QEMU and serial logs; past it a log starts again, keeping one old copy.',
                )}
              >
                {(p) => (
                  <input
                    {...p}
                    type="text"
                    inputMode="decimal"
                    value={form.logCapMiB}
                    disabled={!!fromEnv('logCapBytes')}
                    onChange={(e) => change('logCapMiB', e.target.value)}
                  />
                )}
              </Field>
            </div>
          </fieldset>
          <fieldset className="card settings-group">
            <legend className="card-title">vmdesk web</legend>
            <p className="field-hint">
              <span className="applies-later">These apply the next time vmdesk web starts.</span>
            </p>
            <div className="field-row settings-row">
              <Field
                id={`${base}-listen`}
                label="Listen address"
                error={errors.webListen}
                hint={hint('webListen', 'Without --listen. Keep 127.0.0.1 unless you know who can reach this address.')}
              >
                {(p) => (
                  <input
                    {...p}
                    type="text"
                    value={form.webListen}
                    autoComplete="off"
                    spellCheck={false}
                    onChange={(e) => change('webListen', e.target.value)}
                  />
                )}
              </Field>
              <Field
                id={`${base}-port`}
                label="Port"
                error={errors.webPort}
                hint={hint('webPort', 'Without --port. Empty: the last port used, when free, else any.')}
              >
                {(p) => (
                  <input
                    {...p}
                    type="text"
                    inputMode="numeric"
                    placeholder="any free port"
                    value={form.webPort}
                    onChange={(e) => change('webPort', e.target.value)}
                  />
                )}
              </Field>
            </div>
            <CheckField
              id={`${base}-token`}
              label="A new access token at every start"
              checked={form.webNewTokenEachStart}
              onChange={(c) => change('webNewTokenEachStart', c)}
              hint={hint('webNewTokenEachStart', 'Open pages then need the new URL that vmdesk web prints.')}
            />
          </fieldset>
          <fieldset className="card settings-group">
            <legend className="card-title">Confirmations</legend>
            <CheckField
              id={`${base}-confirm-off`}
              label="Ask before Force off"
              checked={form.confirmForceOff}
              onChange={(c) => change('confirmForceOff', c)}
              hint={hint('confirmForceOff', 'Force off cuts the power: the guest loses what it has not saved.')}
            />
            <CheckField
              id={`${base}-confirm-reset`}
              label="Ask before Reboot"
              checked={form.confirmReset}
              onChange={(c) => change('confirmReset', c)}
              hint={hint('confirmReset', 'Reboot resets the VM at once, like a reset button.')}
            />
          </fieldset>
          <fieldset className="card settings-group">
            <legend className="card-title">Desktop app</legend>
            {loginItem !== null ? (
              <CheckField
                id={`${base}-login`}
                label="Start vmdesk at login"
                checked={startAtLogin}
                onChange={(c) => {
                  setStartAtLogin(c);
                  setStatus(null);
                }}
                hint="In the tray, without its window; VMs marked “Start with vmdesk” start then. The tray menu has the same switch."
              />
            ) : (
              <p className="field-hint">
                {shell
                  ? 'Starting at login is not offered on this system.'
                  : 'Start at login is a setting of the desktop app (here, in a browser, run vmdesk web from your session’s autostart instead).'}
              </p>
            )}
          </fieldset>
        </form>
      )}
    </Dialog>
  );
}
