/**
 * The boot order: the three devices in a list, each switched on or off with a checkbox and moved
 * with Up/Down buttons (keyboard: Tab to a button, Space or Enter). Focus follows a moved device.
 */
import { useRef } from 'react';
import type { BootDevice } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import {
  BOOT_LABELS,
  bootDeviceProblem,
  bootOrder,
  moveBootEntry,
  toggleBootEntry,
  type BootEntry,
  type SettingsForm,
} from './settings-form.js';

export function BootOrderField({
  id,
  form,
  cdromDrives,
  onChange,
  error,
  hint,
}: {
  id: string;
  form: SettingsForm;
  cdromDrives: number;
  onChange(boot: BootEntry[]): void;
  error?: string;
  hint?: React.ReactNode;
}) {
  const list = useRef<HTMLOListElement>(null);
  const entries = form.boot;
  const order = bootOrder(entries);
  const move = (i: number, by: -1 | 1, device: BootDevice, dir: 'up' | 'down') => {
    onChange(moveBootEntry(entries, i, by));
    // Keep the keyboard on the moved device's same button (or the other one at an end).
    requestAnimationFrame(() => {
      const row = list.current?.querySelector<HTMLElement>(`[data-boot="${device}"]`);
      const want = row?.querySelector<HTMLButtonElement>(`[data-move="${dir}"]:not(:disabled)`);
      (want ?? row?.querySelector<HTMLButtonElement>('[data-move]:not(:disabled)'))?.focus();
    });
  };
  const describedBy = [error ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field boot-order${error ? ' field-invalid' : ''}`} role="group" aria-labelledby={`${id}-label`}>
      <span className="field-label" id={`${id}-label`}>
        Boot order
      </span>
      <ol className="boot-list" ref={list} aria-describedby={describedBy}>
        {entries.map((e, i) => {
          const problem = bootDeviceProblem(e.device, form, cdromDrives);
          const position = order.indexOf(e.device);
          const label = BOOT_LABELS[e.device];
          return (
            <li key={e.device} className={e.on ? 'boot-item' : 'boot-item boot-off'} data-boot={e.device}>
              <span className="boot-pos" aria-hidden="true">
                {e.on ? position + 1 : '–'}
              </span>
              <label className="boot-check">
                <input
                  type="checkbox"
                  checked={e.on}
                  disabled={!e.on && problem !== undefined}
                  onChange={(ev) => onChange(toggleBootEntry(entries, e.device, ev.target.checked))}
                  aria-describedby={problem && !e.on ? `${id}-${e.device}-why` : undefined}
                />
                <span>{label}</span>
              </label>
              {problem && !e.on ? (
                <span className="boot-why muted" id={`${id}-${e.device}-why`}>
                  {problem}
                </span>
              ) : (
                <span className="boot-why" />
              )}
              <span className="boot-move">
                <Button
                  small
                  variant="ghost"
                  data-move="up"
                  disabled={i === 0}
                  aria-label={`Move ${label} up`}
                  onClick={() => move(i, -1, e.device, 'up')}
                >
                  ↑
                </Button>
                <Button
                  small
                  variant="ghost"
                  data-move="down"
                  disabled={i === entries.length - 1}
                  aria-label={`Move ${label} down`}
                  onClick={() => move(i, 1, e.device, 'down')}
                >
                  ↓
                </Button>
              </span>
            </li>
          );
        })}
      </ol>
      {error ? (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
      {hint ? (
        <p className="field-hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}
