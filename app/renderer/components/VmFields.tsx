/**
 * The inputs every VM form has (New VM, the create wizard, Settings): memory, CPUs and the
 * accelerator, each with one set of limits and choices. The form owns the value and the words
 * around it (error, hint).
 */
import type { ReactNode } from 'react';
import type { CallParams } from '../../main/common/contract.js';
import { Field } from './Field.js';

export type Accel = NonNullable<CallParams<'vm.define'>['accel']>;

interface FieldProps<T> {
  id: string;
  value: T;
  onChange(value: T): void;
  error?: string;
  hint?: ReactNode;
  label?: string;
}

export function MemoryField({ id, value, onChange, error, hint, label = 'Memory (MiB)' }: FieldProps<string>) {
  return (
    <Field id={id} label={label} error={error} hint={hint}>
      {(p) => (
        <input
          {...p}
          type="number"
          inputMode="numeric"
          min={16}
          step={256}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

export function CpusField({ id, value, onChange, error, hint, label = 'CPUs' }: FieldProps<string>) {
  return (
    <Field id={id} label={label} error={error} hint={hint}>
      {(p) => (
        <input
          {...p}
          type="number"
          inputMode="numeric"
          min={1}
          max={255}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

export function AccelField({ id, value, onChange, error, hint, label = 'Accelerator' }: FieldProps<Accel>) {
  return (
    <Field id={id} label={label} error={error} hint={hint}>
      {(p) => (
        <select {...p} value={value} onChange={(e) => onChange(e.target.value as Accel)}>
          <option value="auto">Automatic</option>
          <option value="kvm">KVM</option>
          <option value="hvf">HVF</option>
          <option value="tcg">TCG (emulation, slow)</option>
        </select>
      )}
    </Field>
  );
}
