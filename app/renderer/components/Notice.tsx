import type { ReactNode } from 'react';

/** A message in the flow of the page (errors are role="alert" so screen readers say them). */
export function Notice({
  tone = 'info',
  children,
  onDismiss,
  title,
}: {
  tone?: 'info' | 'error' | 'warn';
  children: ReactNode;
  onDismiss?(): void;
  title?: string;
}) {
  return (
    <div className={`notice notice-${tone}`} role={tone === 'error' ? 'alert' : undefined}>
      <div className="notice-text">
        {title ? <strong className="notice-title">{title}</strong> : null}
        <div>{children}</div>
      </div>
      {onDismiss ? (
        <button type="button" className="btn btn-ghost btn-small" onClick={onDismiss}>
          Dismiss
        </button>
      ) : null}
    </div>
  );
}

/** A calm, centred panel for empty and "nothing to show" states. */
export function EmptyPanel({
  title,
  children,
  icon,
  className,
}: {
  title: string;
  children?: ReactNode;
  icon?: ReactNode;
  className?: string;
}) {
  return (
    <div className={className ? `empty ${className}` : 'empty'}>
      {icon ? (
        <div className="empty-icon" aria-hidden="true">
          {icon}
        </div>
      ) : null}
      <h2 className="empty-title">{title}</h2>
      {children ? <div className="empty-body">{children}</div> : null}
    </div>
  );
}

/** Monospace text with a Copy button (install commands, paths). */
export function CopyCode({ text, label = 'Copy' }: { text: string; label?: string }) {
  return (
    <div className="code-copy">
      <code>{text}</code>
      <button
        type="button"
        className="btn btn-ghost btn-small"
        aria-label={`${label}: ${text}`}
        onClick={() => {
          void navigator.clipboard?.writeText(text);
        }}
      >
        {label}
      </button>
    </div>
  );
}
