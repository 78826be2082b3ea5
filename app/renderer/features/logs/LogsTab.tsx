import { useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { LogName } from '../../../main/common/contract.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { api } from '../../api/current.js';
import { findMatches, segments, stepMatch, trimLog } from './log-search.js';
import { appendTerminalText, EMPTY_TERMINAL_TEXT, type TerminalText } from './terminal-text.js';

const LOGS: { id: LogName; label: string }[] = [
  { id: 'qemu', label: 'QEMU' },
  { id: 'serial', label: 'Serial' },
  { id: 'driver', label: 'Driver' },
];

/**
 * Text of a log.tail stream, decoded across chunk boundaries. The serial log is what the guest
 * sent its terminal: shown as the terminal would have shown it (terminal-text.ts).
 */
function useLogTail(vmId: string, which: LogName): { text: string; ended: string | null } {
  const [log, setLog] = useState<TerminalText>(EMPTY_TERMINAL_TEXT);
  const [ended, setEnded] = useState<string | null>(null);
  useEffect(() => {
    setLog(EMPTY_TERMINAL_TEXT);
    setEnded(null);
    const decoder = new TextDecoder();
    const add = (s: string) =>
      setLog((l) => {
        const next = which === 'serial' ? appendTerminalText(l, s) : { text: l.text + s, pending: '' };
        return { ...next, text: trimLog(next.text) };
      });
    const ch = api().openStream('log.tail', { vm: vmId, which, lines: 500 });
    ch.binaryType = 'arraybuffer';
    let live = true;
    ch.onmessage = (ev) => {
      const s = decoder.decode(new Uint8Array(ev.data), { stream: true });
      if (live && s) add(s);
    };
    ch.onclose = (ev) => {
      const rest = decoder.decode();
      if (!live) return;
      if (rest) add(rest);
      setEnded(ev.reason || 'The log stream ended.');
    };
    ch.onerror = () => {};
    return () => {
      live = false;
      ch.close(1000, 'viewer closed');
    };
  }, [vmId, which]);
  return { text: log.text, ended };
}

export function LogsTab({ vm }: { vm: VmSummary }) {
  const [which, setWhich] = useState<LogName>('qemu');
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');
  const [current, setCurrent] = useState(-1);
  const { text, ended } = useLogTail(vm.id, which);
  const viewRef = useRef<HTMLPreElement>(null);

  const matches = useMemo(() => findMatches(text, query), [text, query]);
  const parts = useMemo(() => segments(text, matches), [text, matches]);
  const shown = current >= matches.length ? matches.length - 1 : current;

  useEffect(() => setCurrent(-1), [query, which]);

  useLayoutEffect(() => {
    const el = viewRef.current;
    if (!el) return;
    if (shown >= 0) el.querySelector('mark.current')?.scrollIntoView({ block: 'center' });
    else if (follow) el.scrollTop = el.scrollHeight;
  }, [text, follow, shown]);

  const step = (dir: 1 | -1) => {
    setFollow(false);
    setCurrent(stepMatch(shown, matches.length, dir));
  };
  const onSearchKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      step(e.shiftKey ? -1 : 1);
    }
    if (e.key === 'Escape' && query) {
      e.preventDefault();
      setQuery('');
    }
  };

  return (
    <div className="logs">
      <div className="console-bar">
        <div className="segmented" role="group" aria-label="Log file">
          {LOGS.map((l) => (
            <button
              key={l.id}
              type="button"
              className="seg"
              aria-pressed={which === l.id}
              onClick={() => setWhich(l.id)}
            >
              {l.label}
            </button>
          ))}
        </div>
        <label className="check inline">
          <input
            type="checkbox"
            checked={follow}
            onChange={(e) => {
              setFollow(e.target.checked);
              if (e.target.checked) setCurrent(-1);
            }}
          />
          <span>Follow</span>
        </label>
        <div className="search">
          <input
            type="search"
            aria-label="Search the log"
            placeholder="Search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={onSearchKey}
          />
          <span className="search-count" aria-live="polite">
            {query
              ? matches.length === 0
                ? 'No matches'
                : `${shown >= 0 ? shown + 1 : '–'} of ${matches.length}`
              : ''}
          </span>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            aria-label="Previous match"
            disabled={matches.length === 0}
            onClick={() => step(-1)}
          >
            ↑
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            aria-label="Next match"
            disabled={matches.length === 0}
            onClick={() => step(1)}
          >
            ↓
          </button>
        </div>
      </div>
      <pre
        className="log-view"
        data-testid="log-view"
        ref={viewRef}
        tabIndex={0}
        aria-label={`${LOGS.find((l) => l.id === which)?.label} log of ${vm.name}`}
      >
        {text === '' ? (
          <span className="muted">{ended ?? 'This log is empty so far.'}</span>
        ) : (
          parts.map((p, i) =>
            p.match === null ? (
              p.text
            ) : (
              <mark key={i} className={p.match === shown ? 'current' : undefined}>
                {p.text}
              </mark>
            ),
          )
        )}
      </pre>
      {ended && text !== '' ? <p className="muted small log-ended">{ended}</p> : null}
    </div>
  );
}
