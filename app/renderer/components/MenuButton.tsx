/**
 * A toolbar button that opens a menu (WAI-ARIA menu button pattern): the arrow keys, Home and
 * End move between items, Enter or a click chooses one, Escape closes and gives the focus back
 * to the button, a click elsewhere or Tab closes. Sections may lay their items out as a grid
 * (the F-keys); the arrow keys still walk the items in reading order.
 */
import { useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { Button } from './Button.js';

export interface MenuItem {
  id: string;
  /** What the item shows. */
  label: string;
  /** The accessible name, when `label` alone is too short (a grid's "F2" is "Ctrl+Alt+F2"). */
  name?: string;
  /** A second, quieter line under the label (a device's ids, why it is greyed). */
  hint?: string;
  /** A check box item (role menuitemcheckbox): shows a tick when true. */
  checked?: boolean;
  /** Shown greyed, still focusable (so its hint can be read), and not chosen by a click. */
  disabled?: boolean;
  /** Choosing it leaves the menu open (an option such as "Keep for next start"). */
  keepOpen?: boolean;
  onSelect(): void;
}

export interface MenuSection {
  /** A heading shown above the items (not focusable). */
  title?: string;
  /** Columns of a grid; a list when absent. */
  columns?: number;
  items: MenuItem[];
  /** A line of text in place of (or above) the items, e.g. "No USB devices on this host". */
  note?: string;
}

export function MenuButton({
  label,
  icon,
  disabled,
  title,
  sections,
  onOpen,
  size = 'small',
  align = 'start',
}: {
  label: string;
  icon?: ReactNode;
  disabled?: boolean;
  title?: string;
  sections: MenuSection[];
  /** Called each time the menu opens (to load what it lists). */
  onOpen?(): void;
  /** `normal`: as tall as the toolbar buttons beside it. */
  size?: 'small' | 'normal';
  /** `end`: the menu's right edge under the button's (a button at the right end of a row). */
  align?: 'start' | 'end';
}) {
  const [open, setOpen] = useState(false);
  const wrapRef = useRef<HTMLDivElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const menuRef = useRef<HTMLDivElement>(null);
  const menuId = useId();

  const items = () =>
    Array.from(menuRef.current?.querySelectorAll<HTMLElement>('[role="menuitem"], [role="menuitemcheckbox"]') ?? []);

  useEffect(() => {
    if (!open) return;
    items()[0]?.focus();
    const outside = (e: PointerEvent) => {
      if (!wrapRef.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('pointerdown', outside, true);
    return () => document.removeEventListener('pointerdown', outside, true);
  }, [open]);

  useEffect(() => {
    if (disabled) setOpen(false);
  }, [disabled]);

  const choose = (item: MenuItem) => {
    if (item.disabled) return;
    if (item.keepOpen) {
      item.onSelect();
      return;
    }
    setOpen(false);
    // After closing, so an item may move the focus (e.g. back to the VM's screen).
    item.onSelect();
  };

  const onMenuKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const all = items();
    const at = all.indexOf(document.activeElement as HTMLElement);
    const move = (i: number) => all[(i + all.length) % all.length]?.focus();
    switch (e.key) {
      case 'ArrowDown':
      case 'ArrowRight':
        move(at + 1);
        break;
      case 'ArrowUp':
      case 'ArrowLeft':
        move(at - 1);
        break;
      case 'Home':
        move(0);
        break;
      case 'End':
        move(all.length - 1);
        break;
      case 'Escape':
        setOpen(false);
        buttonRef.current?.focus();
        break;
      case 'Tab':
        setOpen(false);
        return; // let the focus move on
      default:
        return;
    }
    e.preventDefault();
    e.stopPropagation();
  };

  return (
    <div className="menu-wrap" ref={wrapRef}>
      <Button
        small={size === 'small'}
        ref={buttonRef}
        icon={icon}
        disabled={disabled}
        title={title}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => {
          if (!open) onOpen?.();
          setOpen(!open);
        }}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' && !open) {
            e.preventDefault();
            onOpen?.();
            setOpen(true);
          }
        }}
      >
        {label}
        <svg className="menu-caret" width="10" height="10" viewBox="0 0 10 10" aria-hidden="true">
          <path d="M2 3.5l3 3 3-3" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
        </svg>
      </Button>
      {open ? (
        <div
          className={align === 'end' ? 'menu menu-end' : 'menu'}
          role="menu"
          id={menuId}
          aria-label={label}
          ref={menuRef}
          onKeyDown={onMenuKey}
        >
          {sections.map((section, i) => (
            <div key={section.title ?? i} className="menu-section" role="group" aria-label={section.title}>
              {i > 0 ? <div className="menu-sep" role="separator" /> : null}
              {section.title ? (
                <div className="menu-title" aria-hidden="true">
                  {section.title}
                </div>
              ) : null}
              {section.note ? <p className="menu-note">{section.note}</p> : null}
              <div
                className={section.columns ? 'menu-grid' : 'menu-list'}
                style={section.columns ? { gridTemplateColumns: `repeat(${section.columns}, 1fr)` } : undefined}
              >
                {section.items.map((item) => (
                  <button
                    key={item.id}
                    type="button"
                    role={item.checked === undefined ? 'menuitem' : 'menuitemcheckbox'}
                    aria-checked={item.checked}
                    aria-disabled={item.disabled || undefined}
                    tabIndex={-1}
                    className={`menu-item${item.disabled ? ' menu-item-disabled' : ''}${item.checked === undefined ? '' : ' menu-item-check'}`}
                    aria-label={item.name}
                    title={item.hint}
                    onClick={() => choose(item)}
                  >
                    {item.checked === undefined ? null : (
                      <span className="menu-tick" aria-hidden="true">
                        {item.checked ? '✓' : ''}
                      </span>
                    )}
                    <span className="menu-item-text">
                      {item.label}
                      {item.hint ? <span className="menu-item-hint">{item.hint}</span> : null}
                    </span>
                  </button>
                ))}
              </div>
            </div>
          ))}
        </div>
      ) : null}
    </div>
  );
}
