/**
 * A row of button groups that never wraps: the groups that do not fit move, from the end, into a
 * "More" menu (the menu button pattern of MenuButton: arrow keys, Home/End, Escape back to the
 * button). Widths come from a hidden copy of every group, measured again whenever the row is
 * resized (ResizeObserver) or its buttons change, so a label that grows ("Working…") is counted.
 */
import { useCallback, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import { Button } from './Button.js';
import { MenuButton, type MenuSection } from './MenuButton.js';

export interface ToolbarItem {
  id: string;
  label: string;
  icon?: ReactNode;
  variant?: 'default' | 'primary' | 'danger';
  disabled?: boolean;
  /** What it does (the button's tooltip; a second line in the More menu). */
  title?: string;
  /** Its call is running (aria-busy on the button). */
  busy?: boolean;
  onSelect(): void;
}

export interface ToolbarGroup {
  id: string;
  items: ToolbarItem[];
  /** Groups with a higher rank stay in the row longer; equal ranks leave from the end. Default 0. */
  rank?: number;
}

const MORE_LABEL = 'More';

/**
 * Which groups (their indexes, in row order) fit in `available` px, with room for the More button
 * when some do not: the highest `ranks` first (equal ranks: the earlier first), stopping at the
 * first that does not fit. `gap` is the space between two groups (and before More).
 */
export function groupsThatFit(
  widths: readonly number[],
  ranks: readonly number[],
  moreWidth: number,
  gap: number,
  available: number,
): number[] {
  const all = widths.map((_, i) => i);
  const total = widths.reduce((n, w) => n + w, 0) + gap * Math.max(0, widths.length - 1);
  if (total <= available) return all;
  const byRank = [...all].sort((a, b) => (ranks[b] ?? 0) - (ranks[a] ?? 0) || a - b);
  let used = moreWidth;
  const kept: number[] = [];
  for (const i of byRank) {
    if (used + widths[i]! + gap > available) break;
    used += widths[i]! + gap;
    kept.push(i);
  }
  return kept.sort((a, b) => a - b);
}

function GroupButtons({ group }: { group: ToolbarGroup }) {
  return (
    <div className="toolbar-group">
      {group.items.map((item) => (
        <Button
          key={item.id}
          variant={item.variant}
          icon={item.icon}
          disabled={item.disabled}
          aria-busy={item.busy || undefined}
          title={item.title}
          onClick={item.onSelect}
        >
          {item.label}
        </Button>
      ))}
    </div>
  );
}

export function OverflowToolbar({ label, groups }: { label: string; groups: ToolbarGroup[] }) {
  const rowRef = useRef<HTMLDivElement>(null);
  const measureRef = useRef<HTMLDivElement>(null);
  /** The indexes of the groups in the row; the others are in More. */
  const [shown, setShown] = useState<number[]>(() => groups.map((_, i) => i));

  const fit = useCallback(() => {
    const row = rowRef.current;
    const measure = measureRef.current;
    if (!row || !measure) return;
    const kids = Array.from(measure.children) as HTMLElement[];
    const widths = kids.slice(0, -1).map((k) => k.getBoundingClientRect().width);
    const more = kids.at(-1)?.getBoundingClientRect().width ?? 0;
    const gap = parseFloat(getComputedStyle(row).columnGap) || 0;
    // Less than a pixel of slack: sub-pixel widths must not push the last group onto a new line.
    const ranks = (measure.dataset.ranks ?? '').split(',').map(Number);
    const next = groupsThatFit(widths, ranks, more, gap, row.clientWidth - 1);
    setShown((was) => (was.join() === next.join() ? was : next));
  }, []);

  // The labels and what is in each group decide the widths: measure again when they change.
  const shape = groups.map((g) => `${g.id}:${g.items.map((i) => i.label).join(',')}`).join('|');
  const ranks = groups.map((g) => g.rank ?? 0).join(',');
  useLayoutEffect(fit, [fit, shape, ranks]);
  useLayoutEffect(() => {
    const row = rowRef.current;
    if (!row || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => fit());
    ro.observe(row);
    return () => ro.disconnect();
  }, [fit]);

  // A change of groups is measured again before the browser paints (useLayoutEffect above).
  const visible = groups.filter((_, i) => shown.includes(i));
  const hidden = groups.filter((_, i) => !shown.includes(i));
  const sections: MenuSection[] = hidden.map((g) => ({
    items: g.items.map((item) => ({
      id: item.id,
      label: item.busy ? `${item.label} (working…)` : item.label,
      hint: item.title,
      disabled: item.disabled,
      onSelect: item.onSelect,
    })),
  }));
  return (
    <div className="toolbar" role="group" aria-label={label} ref={rowRef}>
      {visible.map((g) => (
        <GroupButtons key={g.id} group={g} />
      ))}
      {hidden.length > 0 ? (
        <MenuButton label={MORE_LABEL} size="normal" align="end" title="More actions" sections={sections} />
      ) : null}
      {/* Every group and the More button, laid out but not seen, for their widths. */}
      <div className="toolbar-measure" ref={measureRef} aria-hidden="true" inert data-ranks={ranks}>
        {groups.map((g) => (
          <GroupButtons key={g.id} group={g} />
        ))}
        <div className="menu-wrap">
          <Button tabIndex={-1}>
            {MORE_LABEL}
            <svg className="menu-caret" width="10" height="10" viewBox="0 0 10 10" aria-hidden="true" />
          </Button>
        </div>
      </div>
    </div>
  );
}
