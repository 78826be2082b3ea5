/**
 * Settings → "Desktop integration": shared folders, sound, the shared clipboard and the USB
 * devices plugged in at every start. Part of the Settings form: its changes are saved with Save.
 */
import { useEffect, useState, type ReactNode } from 'react';
import type { UsbDevice } from '../../../main/common/usb-types.js';
import type { VmDefinition } from '../../../main/common/vm-types.js';
import { electronApi } from '../../api/electron-api.js';
import { Button } from '../../components/Button.js';
import { CheckField } from '../../components/CheckField.js';
import { messageOf, requireApi } from '../../store/actions.js';
import { storedUsbLabel, usbIds, usbLabel } from '../usb/usb-model.js';
import {
  defaultShareTag,
  FIELD_LABELS,
  MAX_SHARES,
  MAX_USB,
  shareProblem,
  sharesNote,
  type SettingsErrors,
  type SettingsFieldId,
  type SettingsForm,
} from './settings-form.js';

type HostUsb = { phase: 'loading' } | { phase: 'error'; message: string } | { phase: 'ok'; devices: UsbDevice[] };

export function DesktopIntegrationCard({
  id,
  form,
  d,
  errors,
  disabled,
  set,
  hint,
}: {
  id: string;
  form: SettingsForm;
  d: VmDefinition | undefined;
  errors: SettingsErrors;
  disabled: boolean;
  set<K extends keyof SettingsForm>(k: K, value: SettingsForm[K]): void;
  hint(k: SettingsFieldId, own?: ReactNode): ReactNode;
}) {
  const [path, setPath] = useState('');
  const [tag, setTag] = useState('');
  const [tagTyped, setTagTyped] = useState(false);
  const [readOnly, setReadOnly] = useState(false);
  const [shareErr, setShareErr] = useState<{ path?: string; tag?: string }>({});
  const [host, setHost] = useState<HostUsb>({ phase: 'loading' });
  const [pick, setPick] = useState('');

  useEffect(() => {
    let live = true;
    requireApi()
      .call('host.usbDevices', {})
      .then(
        (r) => live && setHost({ phase: 'ok', devices: r.devices.filter((x) => x.className !== 'hub') }),
        (e: unknown) => live && setHost({ phase: 'error', message: messageOf(e) }),
      );
    return () => {
      live = false;
    };
  }, []);

  const taken = form.shares.map((x) => x.tag);
  const shownTag = tagTyped ? tag : path.trim() ? defaultShareTag(path.trim(), taken) : '';
  const addShare = () => {
    const draft = { path: path.trim(), tag: shownTag.trim(), readOnly };
    const problem = shareProblem(draft, form.shares, MAX_SHARES);
    setShareErr(problem ?? {});
    if (problem) return;
    set('shares', [...form.shares, draft]);
    setPath('');
    setTag('');
    setTagTyped(false);
    setReadOnly(false);
  };

  const devices = host.phase === 'ok' ? host.devices : [];
  const choices = devices.filter((x) => !form.usb.some((u) => usbIds(u) === usbIds(x)));
  const addUsb = () => {
    const dev = choices.find((x) => usbIds(x) === pick) ?? choices[0];
    if (!dev || form.usb.length >= MAX_USB) return;
    set('usb', [...form.usb, { vendorId: dev.vendorId, productId: dev.productId }]);
    setPick('');
  };
  const windowed = electronApi() !== null;

  return (
    <fieldset className="card settings-group" disabled={disabled} data-testid="desktop-integration">
      <legend className="card-title">Desktop integration</legend>

      <div className="field">
        <span className="field-label" id={`${id}-shares-label`}>
          {FIELD_LABELS.shares}
        </span>
        {form.shares.length > 0 ? (
          <ul className="share-list" aria-labelledby={`${id}-shares-label`}>
            {form.shares.map((x) => (
              <li key={x.tag}>
                <code className="path">{x.tag}</code>
                <span className="path grow" title={x.path}>
                  {x.path}
                </span>
                <span className="muted small">{x.readOnly ? 'read-only' : 'read-write'}</span>
                <Button
                  small
                  variant="ghost"
                  aria-label={`Remove shared folder ${x.tag}`}
                  onClick={() =>
                    set(
                      'shares',
                      form.shares.filter((y) => y.tag !== x.tag),
                    )
                  }
                >
                  Remove
                </Button>
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted small">No shared folders.</p>
        )}
        <div className="share-add">
          <div className={`field${shareErr.path ? ' field-invalid' : ''}`}>
            <label htmlFor={`${id}-share-path`}>Folder on the host</label>
            <input
              id={`${id}-share-path`}
              type="text"
              value={path}
              placeholder="/home/you/projects"
              spellCheck={false}
              autoComplete="off"
              aria-invalid={!!shareErr.path}
              onChange={(e) => {
                setPath(e.target.value);
                setShareErr({});
              }}
            />
          </div>
          <div className={`field${shareErr.tag ? ' field-invalid' : ''}`}>
            <label htmlFor={`${id}-share-tag`}>Tag</label>
            <input
              id={`${id}-share-tag`}
              type="text"
              value={shownTag}
              spellCheck={false}
              autoComplete="off"
              size={14}
              aria-invalid={!!shareErr.tag}
              onChange={(e) => {
                setTag(e.target.value);
                setTagTyped(true);
                setShareErr({});
              }}
            />
          </div>
          <label className="check">
            <input type="checkbox" checked={readOnly} onChange={(e) => setReadOnly(e.target.checked)} /> Read-only
          </label>
          <Button small onClick={addShare}>
            Add folder
          </Button>
        </div>
        {shareErr.path || shareErr.tag ? <p className="field-error">{shareErr.path ?? shareErr.tag}</p> : null}
        {errors.shares ? <p className="field-error">{errors.shares}</p> : null}
        <p className="field-hint">{hint('shares', d ? sharesNote(d) : null)}</p>
      </div>

      <div className="field-row settings-row">
        <CheckField
          id={`${id}-sound`}
          label={FIELD_LABELS.sound}
          checked={form.sound}
          onChange={(on) => set('sound', on)}
          error={errors.sound}
          hint={hint(
            'sound',
            windowed
              ? 'An Intel HD Audio card, played through this computer’s sound server (PulseAudio or PipeWire).'
              : 'An Intel HD Audio card. The sound plays on the computer that runs vmdesk (its speakers), not in this browser.',
          )}
        />
        <CheckField
          id={`${id}-clipboard`}
          label={FIELD_LABELS.clipboard}
          checked={form.clipboard}
          onChange={(on) => set('clipboard', on)}
          error={errors.clipboard}
          hint={hint(
            'clipboard',
            'Copy and paste between the Screen tab and the guest. The guest needs spice-vdagent (Linux) or the SPICE guest tools (Windows); without them, Type text… types text as key presses.',
          )}
        />
      </div>

      <div className="field">
        <span className="field-label" id={`${id}-usb-label`}>
          USB devices plugged in at every start
        </span>
        {form.usb.length > 0 ? (
          <ul className="share-list" aria-labelledby={`${id}-usb-label`}>
            {form.usb.map((u) => (
              <li key={usbIds(u)}>
                <span className="grow">{host.phase === 'ok' ? storedUsbLabel(u, devices) : usbIds(u)}</span>
                <Button
                  small
                  variant="ghost"
                  aria-label={`Remove USB device ${usbIds(u)}`}
                  onClick={() =>
                    set(
                      'usb',
                      form.usb.filter((x) => usbIds(x) !== usbIds(u)),
                    )
                  }
                >
                  Remove
                </Button>
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted small">None.</p>
        )}
        <div className="share-add">
          <select
            aria-label="USB device to add"
            value={pick}
            disabled={choices.length === 0}
            onChange={(e) => setPick(e.target.value)}
          >
            {host.phase === 'loading' ? <option value="">Reading the host’s USB devices…</option> : null}
            {host.phase === 'error' ? <option value="">USB devices could not be read</option> : null}
            {host.phase === 'ok' && choices.length === 0 ? (
              <option value="">{devices.length === 0 ? 'No USB devices on this host' : 'All are added'}</option>
            ) : null}
            {choices.map((x) => (
              <option key={x.port} value={usbIds(x)}>
                {usbLabel(x)}
                {x.access.usable ? '' : ' — cannot be opened now'}
              </option>
            ))}
          </select>
          <Button small disabled={choices.length === 0 || form.usb.length >= MAX_USB} onClick={addUsb}>
            Add device
          </Button>
        </div>
        {host.phase === 'error' ? <p className="field-error">{host.message}</p> : null}
        {errors.usb ? <p className="field-error">{errors.usb}</p> : null}
        <p className="field-hint">
          {hint(
            'usb',
            'By vendor:product, so the device is found wherever it is plugged in. A running VM takes devices now from the USB menu of its Screen tab.',
          )}
        </p>
      </div>
    </fieldset>
  );
}
