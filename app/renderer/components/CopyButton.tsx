import { useEffect, useState } from 'react';
import { Button } from './Button.js';

/** How long "Copied" stays on the button, in ms. */
const COPIED_MS = 2000;

/**
 * A small Copy button for `text` (an address, a command): it says "Copied", or, where the page
 * may not use the clipboard, how to copy by hand. `what` names the text for screen readers.
 */
export function CopyButton({ text, what = text }: { text: string; what?: string }) {
  const [copied, setCopied] = useState<'ok' | 'failed' | null>(null);
  useEffect(() => {
    if (copied !== 'ok') return;
    const t = setTimeout(() => setCopied(null), COPIED_MS);
    return () => clearTimeout(t);
  }, [copied]);
  const copy = async () => {
    try {
      // Absent outside a secure context (a page over plain http from another host).
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      setCopied('ok');
    } catch {
      setCopied('failed');
    }
  };
  return (
    <>
      <Button small className="copy-btn" onClick={() => void copy()} aria-label={`Copy ${what}`}>
        {copied === 'ok' ? 'Copied' : 'Copy'}
      </Button>
      <span role="status" className={copied === 'failed' ? 'field-error copy-failed' : 'sr-only'}>
        {copied === 'ok'
          ? 'Copied'
          : copied === 'failed'
            ? 'This window may not use the clipboard: select the text and copy it.'
            : ''}
      </span>
    </>
  );
}
