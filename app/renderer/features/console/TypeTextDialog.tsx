/**
 * "Type text…": text from the clipboard (or pasted, or written here) typed into the guest as key
 * presses, for guests without a clipboard agent (installers, text consoles, firmware setup).
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { Button } from '../../components/Button.js';
import { Dialog } from '../../components/Dialog.js';
import { Notice } from '../../components/Notice.js';
import {
  charCount,
  describeChar,
  MAX_TYPED_CHARS,
  MS_PER_KEY_EVENT,
  planTyping,
  typingRefusal,
  type TypeOutcome,
} from './type-text.js';
import type { VncSession } from './vnc-session.js';
import { clipboardGranted, readClipboard } from './host-clipboard.js';

const seconds = (chars: number) => Math.max(1, Math.round((chars * 4 * MS_PER_KEY_EVENT) / 1000));

export function TypeTextDialog({
  vmName,
  session,
  onClose,
  onTyped,
}: {
  vmName: string;
  session: VncSession;
  onClose(): void;
  /** The whole text was typed: the dialog is done. */
  onTyped(): void;
}) {
  const [text, setText] = useState('');
  const [clipNote, setClipNote] = useState<string | null>(null);
  const [progress, setProgress] = useState<{ typed: number; total: number } | null>(null);
  const [ended, setEnded] = useState<{ tone: 'info' | 'error'; text: string } | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  const boxRef = useRef<HTMLTextAreaElement>(null);

  // Closing the dialog (or leaving the tab) stops the typing.
  useEffect(() => () => abortRef.current?.abort(), []);

  useEffect(() => {
    let live = true;
    void clipboardGranted().then(async (granted) => {
      if (!granted || !live) return;
      const r = await readClipboard();
      if (live && 'text' in r && r.text) setText((t) => t || r.text);
    });
    return () => {
      live = false;
    };
  }, []);

  const plan = useMemo(() => planTyping(text), [text]);
  const refusal = text ? typingRefusal(text) : null;
  const typing = progress !== null;

  const paste = async () => {
    const r = await readClipboard();
    if ('error' in r) {
      setClipNote(r.error);
      boxRef.current?.focus();
    } else if (!r.text) {
      setClipNote('The clipboard holds no text.');
    } else {
      setText(r.text);
      setClipNote(null);
    }
  };

  const start = async () => {
    if (typingRefusal(text) || plan.strokes.length === 0) return;
    const ac = new AbortController();
    abortRef.current = ac;
    setEnded(null);
    const total = plan.strokes.length;
    setProgress({ typed: 0, total });
    let out: TypeOutcome;
    try {
      out = await session.typeStrokes(plan.strokes, {
        signal: ac.signal,
        onProgress: (typed) => setProgress({ typed, total }),
      });
    } finally {
      if (abortRef.current === ac) abortRef.current = null;
    }
    setProgress(null);
    if (out.kind === 'done') onTyped();
    else if (out.kind === 'cancelled')
      setEnded({ tone: 'info', text: `Stopped after ${out.typed} of ${total} characters.` });
    else
      setEnded({
        tone: 'error',
        text: `The screen disconnected after ${out.typed} of ${total} characters; the rest was not typed. Type it again once the screen is back.`,
      });
  };

  const n = charCount(text);
  return (
    <Dialog
      title="Type text"
      subtitle={`Into ${vmName}, as key presses`}
      onClose={onClose}
      footer={
        typing ? (
          <Button onClick={() => abortRef.current?.abort()}>Stop typing</Button>
        ) : (
          <>
            <Button onClick={onClose}>Cancel</Button>
            <Button variant="primary" disabled={!!refusal || plan.strokes.length === 0} onClick={() => void start()}>
              {plan.strokes.length === 0
                ? 'Type'
                : `Type ${plan.strokes.length} ${plan.strokes.length === 1 ? 'character' : 'characters'}`}
            </Button>
          </>
        )
      }
    >
      <div className="form type-text">
        <div className="field">
          <div className="type-text-label">
            <label htmlFor="type-text-box">Text to type</label>
            <Button small disabled={typing} onClick={() => void paste()}>
              Paste from clipboard
            </Button>
          </div>
          <textarea
            id="type-text-box"
            ref={boxRef}
            className="type-text-box"
            value={text}
            readOnly={typing}
            spellCheck={false}
            rows={6}
            aria-invalid={!!refusal}
            aria-describedby="type-text-hint"
            onChange={(e) => {
              setText(e.target.value);
              setEnded(null);
            }}
            placeholder="Paste here (Ctrl+V) or write the text"
          />
          {refusal ? <p className="field-error">{refusal}</p> : null}
          {clipNote ? <p className="field-hint">{clipNote}</p> : null}
          <p className="field-hint" id="type-text-hint">
            {n > 0 && !refusal
              ? `${n} of at most ${MAX_TYPED_CHARS} characters, about ${seconds(n)} s to type. `
              : `At most ${MAX_TYPED_CHARS} characters. `}
            Keys are pressed as on a US keyboard, into whatever has the focus in the guest: its keyboard layout should
            be US (English) for symbols to come out right. Each line end presses Enter.
          </p>
        </div>
        {plan.untypable.length > 0 ? (
          <Notice
            tone="warn"
            title={`${plan.skipped} ${plan.skipped === 1 ? 'character' : 'characters'} will be skipped`}
          >
            No key of a US keyboard types {plan.untypable.slice(0, 8).map(describeChar).join(', ')}
            {plan.untypable.length > 8 ? ` and ${plan.untypable.length - 8} more` : ''}. Type the text without{' '}
            {plan.skipped === 1 ? 'it' : 'them'}, or copy it into the guest another way.
          </Notice>
        ) : null}
        {progress ? (
          <div className="type-text-progress">
            <progress className="progress" aria-label="Typing progress" max={progress.total} value={progress.typed} />
            <span className="muted small" role="status">
              Typed {progress.typed} of {progress.total} characters…
            </span>
          </div>
        ) : null}
        {ended ? (
          ended.tone === 'error' ? (
            <Notice tone="error">{ended.text}</Notice>
          ) : (
            <p className="muted small" role="status">
              {ended.text}
            </p>
          )
        ) : null}
      </div>
    </Dialog>
  );
}
