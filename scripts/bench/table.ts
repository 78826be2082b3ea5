/**
 * Ratios, targets (issue 8) and the one markdown table. Every judgement uses the median, so one
 * unlucky run neither passes nor fails a target by itself.
 */
import { formatValue, median, summary, type Figure } from './stats.js';

const mark = (pass: boolean | undefined) => (pass === undefined ? '' : pass ? ' ✓' : ' ✗');
const x = (r: number) => `${r.toFixed(2)}×`;

function byId(figs: Figure[], id: string): Figure | undefined {
  return figs.find((f) => f.id === id);
}

/** Median of a figure that has samples, else undefined (absent or failed). */
function med(f: Figure | undefined): number | undefined {
  return f && !f.absent && f.samples.length > 0 ? median(f.samples) : undefined;
}

/** Fills in `ratio` and `target` of every figure. */
export function judge(figs: Figure[]): void {
  const raw = med(byId(figs, 'start.raw'));
  // Issue 22: warm ≤ 1.10× raw, the first start ever (cold capability cache) ≤ 1.5× raw. A CLI
  // start is judged above Node and the in-process start (start.vmdesk.cli.overnode), not raw.
  const startTargets: [string, number][] = [
    ['start.vmdesk.warm', 1.1],
    ['start.vmdesk.cold', 1.5],
  ];
  for (const [id, limit] of startTargets) {
    const f = byId(figs, id);
    const m = med(f);
    if (!f) continue;
    const r = m !== undefined && raw !== undefined ? m / raw : undefined;
    if (r !== undefined) f.ratio = `${x(r)} raw`;
    f.target = { text: `≤ ${limit.toFixed(2)}× raw`, pass: r === undefined ? undefined : r <= limit };
  }
  // Like against like: virsh's CLI against vmdesk's CLI, libvirt's API against vmdesk in-process.
  const likeForLike: [string, string, string][] = [
    ['start.libvirt', 'start.vmdesk.cli.define', 'vmdesk CLI'],
    ['start.libvirt.api', 'start.vmdesk.warm', 'vmdesk in-process'],
  ];
  for (const [id, ours, what] of likeForLike) {
    const lv = byId(figs, id);
    if (!lv) continue;
    const m = med(lv);
    const v = med(byId(figs, ours));
    const r = m !== undefined && v !== undefined ? m / v : undefined;
    if (r !== undefined) lv.ratio = `${x(r)} ${what}`;
    lv.target = { text: `${what} faster`, pass: r === undefined ? undefined : r > 1 };
  }
  const stopV = byId(figs, 'stop.vmdesk');
  const stopRaw = med(byId(figs, 'stop.raw'));
  const sv = med(stopV);
  if (stopV) {
    if (sv !== undefined && stopRaw !== undefined) stopV.ratio = `${x(sv / stopRaw)} raw`;
    stopV.target = { text: '≤ 20 ms', pass: sv === undefined ? undefined : sv <= 20 };
  }
  const stopLv = byId(figs, 'stop.libvirt');
  const sl = med(stopLv);
  if (stopLv && sl !== undefined && sv !== undefined) stopLv.ratio = `${x(sl / sv)} vmdesk`;
  const threshold = (id: string, text: string, ok: (m: number) => boolean) => {
    const f = byId(figs, id);
    if (!f) return;
    const m = med(f);
    f.target = { text, pass: m === undefined ? undefined : ok(m) };
  };
  threshold('driver.cpu.idle5', '< 0.5 %', (m) => m < 0.5);
  threshold('list.cli', '< 50 ms', (m) => m < 50);
  threshold('start.vmdesk.cli.overnode', '≤ 20 ms', (m) => m <= 20);
  threshold('list.inprocess', '< 50 ms', (m) => m < 50);
  threshold('serial.1', '≥ 50 MB/s', (m) => m >= 50);
  threshold('serial.4', '≥ 50 MB/s', (m) => m >= 50);
  // Console throughput through vmdesk against the same console reached without it (same run).
  const atLeast = (id: string, baseId: string, baseName: string, min: number) => {
    const f = byId(figs, id);
    if (!f) return;
    const m = med(f);
    const b = med(byId(figs, baseId));
    const r = m !== undefined && b !== undefined && b > 0 ? m / b : undefined;
    if (r !== undefined) f.ratio = `${x(r)} ${baseName}`;
    f.target = { text: `≥ ${min.toFixed(2)}× ${baseName}`, pass: r === undefined ? undefined : r >= min };
  };
  for (const via of ['control', 'web']) {
    for (const vnc of ['vnc', 'vnc.solid']) {
      atLeast(`${vnc}.${via}.fps`, `${vnc}.direct.fps`, 'direct', 0.95);
      atLeast(`${vnc}.${via}.bytes`, `${vnc}.direct.bytes`, 'direct', 0.95);
    }
    atLeast(`serial.guest.${via}`, 'serial.guest.socat', 'socat', 0.95);
  }
  threshold('forward.add', '≤ 50 ms', (m) => m <= 50);
}

export function renderTable(figs: Figure[]): string {
  const lines = ['| figure | min | median | max | ratio | target |', '|---|--:|--:|--:|---|---|'];
  const notes: string[] = [];
  for (const f of figs) {
    let cells: string[];
    if (f.absent) {
      cells = ['—', f.absent, '—'];
    } else {
      const s = summary(f.samples);
      cells = [formatValue(s.min, f.unit), `**${formatValue(s.median, f.unit)}**`, formatValue(s.max, f.unit)];
    }
    const target = f.target ? `${f.target.text}${f.absent ? ' (n/a)' : mark(f.target.pass)}` : '—';
    let label = f.label;
    if (f.note) {
      // One line per note: a failure's message can be a whole stack trace.
      const note = f.note.replace(/\s+/g, ' ').trim();
      notes.push(`${notes.length + 1}. ${f.label}: ${note.length > 300 ? `${note.slice(0, 300)}…` : note}`);
      label += ` [${notes.length}]`;
    }
    lines.push(`| ${[label, ...cells, f.ratio ?? '—', target].join(' | ')} |`);
  }
  return [...lines, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/** Raw numbers plus their summaries, and the median of every start phase for profiling. */
export function toJson(figs: Figure[]): unknown[] {
  return figs.map((f) => ({
    ...f,
    ...(f.samples.length ? summary(f.samples) : {}),
    ...(f.phases ? { phaseMedians: Object.fromEntries(Object.entries(f.phases).map(([k, v]) => [k, median(v)])) } : {}),
  }));
}
