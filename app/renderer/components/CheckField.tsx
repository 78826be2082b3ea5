import type { ReactNode } from 'react';

/**
 * A labelled checkbox with its error and hint, the checkbox counterpart of Field: the hint reads
 * under the label, and both are the input's description.
 */
export function CheckField({
  id,
  label,
  checked,
  onChange,
  hint,
  error,
  disabled,
}: {
  id: string;
  label: ReactNode;
  checked: boolean;
  onChange(checked: boolean): void;
  hint?: ReactNode;
  error?: string | undefined;
  disabled?: boolean;
}) {
  const describedBy = [error ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`check-field${error ? ' field-invalid' : ''}`}>
      <div className="check">
        <input
          id={id}
          type="checkbox"
          checked={checked}
          disabled={disabled}
          aria-invalid={!!error}
          aria-describedby={describedBy}
          onChange={(e) => onChange(e.target.checked)}
        />
        {/* The hint is outside the label: the checkbox is named by the label alone, described by the hint. */}
        <span>
          <label htmlFor={id}>{label}</label>
          {hint ? (
            <span className="check-hint" id={`${id}-hint`}>
              {hint}
            </span>
          ) : null}
        </span>
      </div>
      {error ? (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
    </div>
  );
}
