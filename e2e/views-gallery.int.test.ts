/**
 * Every main view of vmdesk, in light and dark, at 900 and 1600 px wide, on the real thing:
 * `vmdesk web` (real server, real driver, the tiny test guest running under real QEMU/TCG) in
 * Debian Chromium. The screenshots (artifacts/screenshots/gallery-VIEW-SCHEME-WIDTH.png) are for
 * a person to look at; the page itself is measured for what a screenshot can hide or a person
 * can miss:
 * - no horizontal overflow at 900 px (the page, the main pane, every open dialog), and the
 *   window itself never scrolls vertically (the panes do);
 * - every dialog inside the viewport at both widths;
 * - the VM toolbar on one row;
 * - in dark mode a dark page with light text, and no light box left without dark styles;
 * - text contrast at least WCAG AA (4.5:1, 3:1 for large text) against what is under it;
 * - a control reached with Tab shows a focus ring that differs from its unfocused look and
 *   stands out (3:1) from what is around it.
 * All problems of the walk are collected and asserted at the end (and written to
 * artifacts/screenshots/gallery-problems.json), so one run lists them all.
 * The vGPU wizard opens on this host without mediated-device hardware: it shows what it finds.
 * Menus (More, Send key, USB) are shot at 900 px only (a resize closes them); focus close-ups
 * are gallery-VIEW-focus-SCHEME.png. Nothing is faked (the vGPU wizard reads this host’s real,
 * empty mdev bus).
 */
/// <reference lib="dom" />
import fs from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { freePort } from './support/ports.js';
import { ARTIFACTS, CHROMIUM, openPage, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

type Scheme = 'light' | 'dark';
const SCHEMES: Scheme[] = ['light', 'dark'];
const WIDTHS = [900, 1600];
const HEIGHT = 900;

/** Everything the walk found wrong, as "view scheme width: what". */
const problems: string[] = [];
const shots: string[] = [];

/** Two animation frames: layout, ResizeObservers and the next paint have run. */
async function settle(page: Page): Promise<void> {
  await page.evaluate(
    () => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 50)))),
  );
}

/** The tops of the VM toolbar's shown buttons: one value when it is one row. */
async function toolbarRows(page: Page): Promise<number> {
  const bar = page.getByRole('main').locator('.vm-head .toolbar');
  if ((await bar.count()) === 0) return 1;
  const tops = await bar
    .locator(':scope > .toolbar-group > button, :scope > .menu-wrap > button')
    .evaluateAll((bs) =>
      bs.map((b) => b.getBoundingClientRect()).flatMap((r) => (r.height > 0 ? [Math.round(r.top)] : [])),
    );
  return new Set(tops).size;
}

/**
 * Measures the page as it is now (in the page, one pass): overflow, dialogs in the viewport,
 * dark colours, light boxes in dark mode, text contrast. Returns the problems as sentences.
 */
function measure(page: Page, scheme: Scheme, width: number): Promise<string[]> {
  return page.evaluate(
    ({ scheme, width }) => {
      const out: string[] = [];
      type RGBA = [number, number, number, number];
      const parse = (c: string): RGBA | null => {
        let m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(c);
        if (m) return [+m[1]!, +m[2]!, +m[3]!, m[4] === undefined ? 1 : +m[4]];
        m = /^color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: \/ ([\d.]+))?\)$/.exec(c);
        if (m) return [+m[1]! * 255, +m[2]! * 255, +m[3]! * 255, m[4] === undefined ? 1 : +m[4]];
        return null;
      };
      const over = (top: RGBA, under: RGBA): RGBA => {
        const a = top[3];
        return [top[0] * a + under[0] * (1 - a), top[1] * a + under[1] * (1 - a), top[2] * a + under[2] * (1 - a), 1];
      };
      const lum = ([r, g, b]: RGBA) => {
        const ch = (v: number) => {
          const s = v / 255;
          return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
      };
      const contrast = (a: RGBA, b: RGBA) => {
        const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
        return (x! + 0.05) / (y! + 0.05);
      };
      const hex = (c: RGBA) =>
        `#${c
          .slice(0, 3)
          .map((v) => Math.round(v).toString(16).padStart(2, '0'))
          .join('')}`;
      const describe = (el: Element) => {
        const cls =
          typeof el.className === 'string' && el.className ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
        const text = (el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 40);
        return `<${el.tagName.toLowerCase()}${cls}> “${text}”`;
      };
      /** What is painted under el's content: its and its ancestors' backgrounds; null under a picture. */
      const bgOf = (el: Element | null): RGBA | null => {
        const layers: RGBA[] = [];
        for (let e = el; e; e = e.parentElement) {
          const cs = getComputedStyle(e);
          if (cs.backgroundImage !== 'none') return null;
          if (e.tagName === 'CANVAS' || e.tagName === 'IMG') return null;
          const c = parse(cs.backgroundColor);
          if (c && c[3] > 0) {
            layers.push(c);
            if (c[3] >= 1) break;
          }
          // A modal dialog is in the top layer: what is under it in the DOM is not under it on screen.
          if (e.tagName === 'DIALOG' && c && c[3] >= 1) break;
        }
        let base: RGBA = parse(getComputedStyle(document.documentElement).backgroundColor) ?? [255, 255, 255, 1];
        if (base[3] < 1) base = over(base, [255, 255, 255, 1]);
        for (let i = layers.length - 1; i >= 0; i--) base = over(layers[i]!, base);
        return base;
      };
      const opacityOf = (el: Element | null) => {
        let o = 1;
        for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
        return o;
      };
      const shown = (el: Element) => {
        const r = el.getBoundingClientRect();
        if (r.width < 1 || r.height < 1) return false;
        if (r.bottom <= 0 || r.top >= innerHeight || r.right <= 0 || r.left >= innerWidth) return false;
        const cs = getComputedStyle(el);
        return cs.visibility === 'visible' && cs.display !== 'none';
      };
      const modal = Array.from(document.querySelectorAll('dialog')).filter((d) => d.open);
      // What the user sees: the open dialog when there is one, else the whole page.
      const roots: Element[] = modal.length ? modal : [document.body];

      // 1. Overflow at the narrow width.
      if (width <= 900) {
        const se = document.scrollingElement!;
        if (se.scrollWidth > innerWidth) out.push(`the page scrolls sideways (${se.scrollWidth} > ${innerWidth} px)`);
        const main = document.querySelector('main.main');
        if (main && main.scrollWidth > main.clientWidth + 1)
          out.push(`the main pane scrolls sideways (${main.scrollWidth} > ${main.clientWidth} px)`);
        for (const d of modal) {
          for (const part of [d, ...Array.from(d.querySelectorAll('.dialog-body'))])
            if (part.scrollWidth > part.clientWidth + 1)
              out.push(
                `${describe(part).slice(0, 60)} scrolls sideways (${part.scrollWidth} > ${part.clientWidth} px)`,
              );
        }
      }
      // 1b. The window itself never scrolls (the panes do): a page taller than the window lets
      // focus or scrollIntoView push the header away. Names what sticks out below.
      {
        const se = document.scrollingElement!;
        if (se.scrollHeight > innerHeight + 1) {
          const clipped = (e: Element) => {
            for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
              const o = getComputedStyle(p);
              if (o.overflowY !== 'visible' || o.overflowX !== 'visible' || o.contain.includes('paint')) return true;
            }
            return false;
          };
          const out2 = Array.from(document.body.querySelectorAll('*'))
            .filter(
              (e) =>
                e.getBoundingClientRect().bottom > innerHeight + 1 &&
                // An absolutely placed element escapes its scrolling ancestors unless one of them places it.
                (getComputedStyle(e).position === 'absolute' || !clipped(e)),
            )
            .slice(0, 3)
            .map((e) => describe(e).slice(0, 70));
          out.push(`the page scrolls vertically (${se.scrollHeight} > ${innerHeight} px): ${out2.join(', ')}`);
        }
      }
      // 2. Dialogs inside the viewport.
      for (const d of modal) {
        const r = d.getBoundingClientRect();
        if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight)
          out.push(
            `dialog “${d.getAttribute('aria-labelledby') ? document.getElementById(d.getAttribute('aria-labelledby')!)?.textContent : ''}” leaves the viewport (${Math.round(r.left)},${Math.round(r.top)} – ${Math.round(r.right)},${Math.round(r.bottom)})`,
          );
      }
      // 3. Dark mode: a dark page, light text.
      if (scheme === 'dark') {
        const body = getComputedStyle(document.body);
        const bg = parse(body.backgroundColor);
        const fg = parse(body.color);
        if (!bg || lum(bg) > 0.05) out.push(`the body background is not dark (${body.backgroundColor})`);
        if (!fg || lum(fg) < 0.6) out.push(`the body text is not light (${body.color})`);
      }
      // 4. Light boxes in dark mode (a part without dark styles), and 5. text contrast.
      const seen = new Set<string>();
      for (const root of roots)
        for (const el of [root, ...Array.from(root.querySelectorAll('*'))]) {
          if (!shown(el)) continue;
          if (el.closest('.vnc-frame, .vm-thumb, .snap-thumb, svg, canvas, img, mark, .xterm-helpers')) continue;
          const cs = getComputedStyle(el);
          if (scheme === 'dark') {
            const own = parse(cs.backgroundColor);
            const r = el.getBoundingClientRect();
            if (own && own[3] > 0.5 && r.width * r.height > 300 && lum(own) > 0.35) {
              const key = `box ${describe(el)}`;
              if (!seen.has(key)) out.push(`a light box in dark mode: ${describe(el)} ${cs.backgroundColor}`);
              seen.add(key);
            }
          }
          const hasText = Array.from(el.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim());
          if (!hasText) continue;
          // Disabled controls and their text are exempt (WCAG 1.4.3), so is half-transparent text.
          if (el.closest(':disabled, [aria-disabled="true"]') || opacityOf(el) < 0.99) continue;
          const fg = parse(cs.color);
          const bg = bgOf(el);
          if (!fg || !bg) continue;
          const ratio = contrast(over(fg, bg), bg);
          const px = parseFloat(cs.fontSize);
          const large = px >= 24 || (px >= 18.66 && Number(cs.fontWeight) >= 700);
          const need = large ? 3 : 4.5;
          if (ratio < need) {
            const key = `text ${describe(el)}`;
            if (!seen.has(key))
              out.push(
                `low contrast ${ratio.toFixed(2)}:1 (needs ${need}): ${describe(el)} ${hex(over(fg, bg))} on ${hex(bg)}`,
              );
            seen.add(key);
          }
        }
      return out;
    },
    { scheme, width },
  );
}

/**
 * The control that has the keyboard focus shows it: its outline or shadow differs from its look
 * without focus, and an outline stands out (3:1) from the background it is drawn on.
 */
async function focusRingProblem(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return 'nothing has the focus after Tab';
    if (!el.matches(':focus-visible')) return `${el.tagName} has the focus but not :focus-visible`;
    const parse = (c: string): number[] | null => {
      const m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(c);
      return m ? [+m[1]!, +m[2]!, +m[3]!, m[4] === undefined ? 1 : +m[4]] : null;
    };
    const lum = (c: number[]) =>
      c
        .slice(0, 3)
        .map((v) => v / 255)
        .map((s) => (s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4))
        .reduce((a, s, i) => a + s * [0.2126, 0.7152, 0.0722][i]!, 0);
    const look = () => {
      const cs = getComputedStyle(el);
      return {
        outline:
          cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0
            ? `${cs.outlineWidth} ${cs.outlineStyle} ${cs.outlineColor}`
            : '',
        outlineColor: cs.outlineColor,
        offset: parseFloat(cs.outlineOffset),
        shadow: cs.boxShadow,
        border: cs.borderColor,
        bg: cs.backgroundColor,
      };
    };
    const name = `${el.tagName.toLowerCase()} “${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 30)}”`;
    const focused = look();
    el.blur();
    const plain = look();
    el.focus();
    if (
      focused.outline === plain.outline &&
      focused.shadow === plain.shadow &&
      focused.border === plain.border &&
      focused.bg === plain.bg
    )
      return `${name}: no visible focus ring (looks the same focused and not)`;
    if (focused.outline) {
      // The ring is drawn around the control (on its parent's background) or, inset, on the control.
      let under: number[] | null = null;
      for (let e: Element | null = focused.offset < 0 ? el : el.parentElement; e && !under; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c[3]! >= 0.99) under = c;
      }
      const ring = parse(focused.outlineColor);
      if (ring && under) {
        const [a, b] = [lum(ring), lum(under)].sort((p, q) => q - p);
        const ratio = (a! + 0.05) / (b! + 0.05);
        if (ratio < 3) return `${name}: the focus ring stands out only ${ratio.toFixed(2)}:1 (needs 3)`;
      }
    }
    return null;
  });
}

const CONTROL = 'button, a[href], [role="tab"], input, select, textarea, summary';

/** Presses Tab (at most `max` times) until a `control` inside `within` has the focus. */
async function tabToControl(page: Page, within: string, control = CONTROL, max = 25): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const ok = await page.evaluate(
      ([sel, ctl]) => {
        const el = document.activeElement;
        return !!el && !!el.closest(sel) && el.matches(ctl);
      },
      [within, control] as const,
    );
    if (ok) return;
  }
}

/** A close-up of the focused control and 40 px around it, to see its ring at full size. */
async function shootFocus(page: Page, name: string): Promise<void> {
  const r = await page.evaluate(() => {
    const el = document.activeElement;
    const b = el && el !== document.body ? el.getBoundingClientRect() : null;
    return b ? { x: b.x, y: b.y, width: b.width, height: b.height } : null;
  });
  const vp = page.viewportSize()!;
  const clip = r
    ? {
        x: Math.max(0, r.x - 40),
        y: Math.max(0, r.y - 40),
        width: Math.min(vp.width - Math.max(0, r.x - 40), r.width + 80),
        height: Math.min(vp.height - Math.max(0, r.y - 40), r.height + 80),
      }
    : undefined;
  await page.screenshot({ path: path.join(ARTIFACTS, name), clip });
}

/**
 * Shoots the page in both schemes at both widths, measuring each, and checks the focus ring
 * once per scheme (`focus`: how to put the keyboard focus on a control of this view).
 */
async function gallery(
  page: Page,
  view: string,
  focus?: () => Promise<void>,
  prepare?: () => Promise<void>,
): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: HEIGHT });
      await settle(page);
      // The main pane keeps its scroll across tabs: each view is shot from its top unless told.
      if (prepare) await prepare();
      else await page.evaluate(() => document.querySelector('main.main')?.scrollTo(0, 0));
      await settle(page);
      // The toolbar measures itself on resize: give it its moment, then it must be one row.
      try {
        await expect.poll(() => toolbarRows(page), { timeout: 5_000 }).toBe(1);
      } catch {
        problems.push(`${view} ${scheme} ${width}: the VM toolbar wraps onto ${await toolbarRows(page)} rows`);
      }
      // No hover look in the pictures: the pointer rests on the empty foot of the sidebar.
      await page.mouse.move(4, HEIGHT - 4);
      const name = `gallery-${view}-${scheme}-${width}.png`;
      await page.screenshot({ path: path.join(ARTIFACTS, name) });
      shots.push(name);
      for (const p of await measure(page, scheme, width)) problems.push(`${view} ${scheme} ${width}: ${p}`);
    }
    if (focus) {
      await focus();
      const p = await focusRingProblem(page);
      if (p) problems.push(`${view} ${scheme}: ${p}`);
      await shootFocus(page, `gallery-${view}-focus-${scheme}.png`);
      // The next scheme's pictures without this ring.
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1600, height: HEIGHT });
  await settle(page);
}

/**
 * A menu (More, Send key) at 900 px in both schemes: `open` opens it; Escape closes it. Menus
 * close when the window resizes, so they are shot at the narrow width only, where they matter.
 */
async function menuGallery(page: Page, view: string, open: () => Promise<Locator>): Promise<void> {
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: 900, height: HEIGHT });
    await settle(page);
    const menu = await open();
    await menu.waitFor();
    await settle(page);
    const name = `gallery-${view}-${scheme}-900.png`;
    await page.screenshot({ path: path.join(ARTIFACTS, name) });
    shots.push(name);
    for (const p of await measure(page, scheme, 900)) problems.push(`${view} ${scheme} 900: ${p}`);
    const box = await menu.boundingBox();
    if (!box || box.x < 0 || box.x + box.width > 900 || box.y + box.height > HEIGHT)
      problems.push(`${view} ${scheme} 900: the menu leaves the viewport (${JSON.stringify(box)})`);
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1600, height: HEIGHT });
  await settle(page);
}

/** Keyboard focus on a button of the VM toolbar: from the selected tab, Shift+Tab. */
async function focusToolbar(page: Page): Promise<void> {
  await page.getByRole('main').locator('[role="tab"][aria-selected="true"]').focus();
  await page.keyboard.press('Shift+Tab');
}

/** Keyboard focus on the first control of the open dialog (or the first that matches `control`). */
function focusDialog(page: Page, control?: string): () => Promise<void> {
  return () => tabToControl(page, 'dialog[open]', control);
}

/** A toolbar action: its button when shown, else from More. */
async function action(page: Page, label: RegExp): Promise<void> {
  const main = page.getByRole('main');
  const button = main.locator('.vm-head').getByRole('button', { name: label });
  if (await button.first().isVisible()) return button.first().click();
  await main.locator('.vm-head').getByRole('button', { name: 'More' }).click();
  await main.getByRole('menuitem', { name: label }).click();
}

async function closeDialog(dialog: Locator): Promise<void> {
  await dialog.getByRole('button', { name: 'Close', exact: true }).first().click();
  await dialog.waitFor({ state: 'detached' });
}

describe.skipIf(!fs.existsSync(CHROMIUM))(
  'every main view, light and dark, 900 and 1600 px (skipped without /usr/bin/chromium)',
  () => {
    it('shoots and measures the list, the VM tabs and every dialog', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      // An image in the ISO library, for its dialog.
      const lib = path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'isos');
      fs.mkdirSync(lib, { recursive: true });
      fs.copyFileSync(guestIso(), path.join(lib, 'vmdesk-test-guest.iso'));

      const web = await startWeb(s);
      const page = await openPage(web.url, (c) => cleanups.push(c));
      const app = new AppPage(page);
      const scrollToEnd = () => page.getByRole('main').evaluate((m) => m.scrollTo(0, m.scrollHeight));
      await page.setViewportSize({ width: 1600, height: HEIGHT });

      // The empty state: no VM yet.
      await page.getByRole('heading', { name: 'No virtual machines yet' }).waitFor();
      await gallery(page, 'list-empty', () => tabToControl(page, '.app-header'));

      // A running VM (the test guest, with a forward) and a stopped one with two snapshots.
      const port = await freePort();
      await s.json([
        'define',
        '--name',
        'guest',
        '--memory',
        '128M',
        '--disk-size',
        '1G',
        '--cdrom',
        guestIso(),
        '--forward',
        `tcp:${port}:22`,
      ]);
      // A long name: the title, the list and the dialogs' titles must cope with it.
      const stopped = 'stopped-vm-with-a-rather-long-name';
      await s.json(['define', '--name', stopped, '--memory', '256M', '--disk-size', '2G']);
      await s.json([
        'snapshot',
        'create',
        stopped,
        'fresh-install',
        '--description',
        'Right after the installer finished.',
      ]);
      await s.json(['snapshot', 'create', stopped, 'before-upgrade']);
      await s.json(['start', 'guest']);
      await app.waitForState('guest', 'running');
      await app.waitForState(stopped, 'stopped');

      // The running VM: its card's live picture, its Overview.
      await app.select('guest');
      await app.vmItem('guest').locator('[data-testid="vm-thumb"] img').waitFor({ timeout: 120_000 });
      await page
        .getByRole('main')
        .getByRole('region', { name: 'At a glance' })
        .getByRole('list', { name: 'Guest IP addresses' })
        .getByText('10.0.2.15')
        .waitFor({ timeout: 180_000 });
      await gallery(page, 'overview-running', () => focusToolbar(page));
      await gallery(page, 'overview-running-end', undefined, scrollToEnd);

      // The VM list shows the keyboard focus on its selected VM (the list itself has no ring).
      for (const scheme of SCHEMES) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.locator('.vm-sort').focus();
        await page.keyboard.press('Tab');
        const p = await page.evaluate(() => {
          const list = document.activeElement;
          if (!list?.matches('.vm-list'))
            return `Tab from the sort order lands on <${list?.tagName.toLowerCase()}>, not the list`;
          const item = list.querySelector('[aria-selected="true"]');
          if (!item) return 'no VM is selected';
          const cs = getComputedStyle(item);
          return cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2
            ? null
            : 'the selected VM shows no focus ring while the list has the keyboard focus';
        });
        if (p) problems.push(`vm-list ${scheme}: ${p}`);
        await page.mouse.move(4, HEIGHT - 4);
        await shootFocus(page, `gallery-vm-list-focus-${scheme}.png`);
      }
      await page.emulateMedia({ colorScheme: 'light' });

      // Screen (noVNC): the guest's VGA text.
      await app.tab('Screen');
      await expect.poll(() => app.vncLitShare(), { timeout: 60_000 }).toBeGreaterThan(0.002);
      await gallery(page, 'screen', () => focusToolbar(page));
      await menuGallery(page, 'menu-send-key', () => app.openSendKeyMenu());
      await menuGallery(page, 'menu-usb', () => app.openUsbMenu());
      const typeText = await app.openTypeText();
      await gallery(page, 'dialog-type-text', focusDialog(page));
      await typeText.getByRole('button', { name: 'Cancel' }).click();
      await typeText.waitFor({ state: 'detached' });
      // Serial (xterm).
      await app.tab('Serial console');
      await page.locator('[data-testid="serial-terminal"] .xterm-rows').waitFor();
      await gallery(page, 'serial', async () => {
        // The selected tab, reached from the toolbar.
        await focusToolbar(page);
        await page.keyboard.press('Tab');
      });
      // Logs.
      await app.tab('Logs');
      await page.getByRole('main').locator('.log-view').waitFor();
      await gallery(page, 'logs', async () => {
        // The log's first control (the QEMU / Serial / Driver switch), past the selected tab.
        await focusToolbar(page);
        await page.keyboard.press('Tab');
        await page.keyboard.press('Tab');
      });
      // Settings of the running VM (what applies later is marked).
      await app.openSettings('guest');
      await gallery(page, 'settings-running', () => focusToolbar(page));
      await gallery(page, 'settings-running-disks', undefined, () =>
        page
          .getByRole('main')
          .locator('.disks-table')
          .evaluate((t) => t.closest('section, fieldset, .card')!.scrollIntoView({ block: 'start' })),
      );
      await gallery(page, 'settings-running-end', undefined, scrollToEnd);
      await page.getByRole('main').getByRole('button', { name: 'Change the disc in CD-ROM 1' }).click();
      const picker = page.getByRole('dialog', { name: 'Change the disc in CD-ROM 1' });
      await picker.waitFor();
      await gallery(page, 'dialog-iso-picker', focusDialog(page, 'input[type="radio"]'));
      await closeDialog(picker);

      // The stopped VM: Overview, Settings, Snapshots.
      await app.select(stopped);
      await app.tab('Overview');
      await page.getByRole('main').getByRole('heading', { name: stopped, level: 1 }).waitFor();
      await gallery(page, 'overview-stopped', () => focusToolbar(page));
      await menuGallery(page, 'menu-more', async () => {
        await page.getByRole('main').locator('.vm-head').getByRole('button', { name: 'More' }).click();
        return page.getByRole('main').getByRole('menu', { name: 'More' });
      });
      await app.openSettings(stopped);
      await gallery(page, 'settings-stopped');
      await app.openSnapshots();
      await app.snapshotNode('before-upgrade').waitFor();
      await gallery(page, 'snapshots', () => focusToolbar(page));

      // Dialogs of the stopped VM: Delete, Clone, the vGPU wizard, Take snapshot.
      await action(page, /^Delete/);
      const del = page.getByRole('dialog');
      await del.waitFor();
      await gallery(page, 'dialog-delete', focusDialog(page));
      await del.getByRole('button', { name: 'Cancel' }).click();
      await del.waitFor({ state: 'detached' });

      await action(page, /^Clone/);
      const clone = page.getByRole('dialog', { name: `Clone “${stopped}”` });
      await clone.waitFor();
      await gallery(page, 'dialog-clone', focusDialog(page, 'input[type="checkbox"]'));
      await clone.getByRole('button', { name: 'Cancel' }).click();
      await clone.waitFor({ state: 'detached' });

      await page.getByRole('main').getByRole('button', { name: 'Take snapshot…' }).first().click();
      const take = page.getByRole('dialog', { name: /^Take a snapshot of / });
      await take.waitFor();
      await gallery(page, 'dialog-take-snapshot', focusDialog(page, 'textarea'));
      await take.getByRole('button', { name: 'Cancel' }).click();
      await take.waitFor({ state: 'detached' });

      await app.tab('Overview');
      await page.getByRole('main').getByRole('button', { name: 'Add a vGPU…' }).click();
      const vgpu = page.getByRole('dialog', { name: `Graphics: vGPU for ${stopped}` });
      await vgpu.getByText('Looking for mediated-device capable GPUs…').waitFor({ state: 'detached' });
      await vgpu.locator('.notice, .choices').first().waitFor();
      await gallery(page, 'dialog-vgpu', focusDialog(page));
      await closeDialog(vgpu);

      // The header's dialogs.
      const header = page.locator('.app-header');
      await header.getByRole('button', { name: 'New VM' }).click();
      const newVm = page.getByRole('dialog', { name: 'New virtual machine' });
      await newVm.waitFor();
      await gallery(page, 'dialog-new-vm', focusDialog(page, 'select'));
      // Its errors, all at once.
      await newVm.getByLabel('Name').fill('guest');
      await newVm.getByLabel('Memory (MiB)').fill('8');
      await newVm.getByRole('button', { name: 'Create' }).click();
      await newVm.locator('.field-error').first().waitFor();
      await gallery(page, 'dialog-new-vm-errors');
      await newVm.getByRole('button', { name: 'Cancel' }).click();
      await newVm.waitFor({ state: 'detached' });

      // From ISO…: the wizard, with the guest ISO uploaded and read.
      await page.getByTestId('iso-file-input').setInputFiles(guestIso());
      const wizard = app.wizard();
      await wizard.getByRole('button', { name: 'Create and start' }).waitFor({ timeout: 60_000 });
      await gallery(page, 'dialog-wizard', focusDialog(page, '.dialog-foot button'));
      await closeDialog(wizard);

      const isoLib = await app.openIsoLibrary();
      await gallery(page, 'dialog-iso-library', focusDialog(page));
      await closeDialog(isoLib);

      await header.getByRole('button', { name: 'Host', exact: true }).click();
      const host = page.getByRole('dialog', { name: 'Host' });
      await host.locator('.host-block').first().waitFor({ timeout: 30_000 });
      await gallery(page, 'dialog-host', focusDialog(page));
      await closeDialog(host);

      await header.getByRole('button', { name: 'Connections', exact: true }).click();
      const conns = page.getByRole('dialog', { name: 'Connections' });
      await conns.locator('.conn-list, .conn-add').first().waitFor();
      await gallery(page, 'dialog-connections', focusDialog(page, 'input[type="checkbox"]'));
      await closeDialog(conns);

      await header.getByRole('button', { name: 'Preferences…' }).click();
      const prefs = page.getByRole('dialog', { name: 'Preferences' });
      await prefs.waitFor();
      await prefs.locator('input, select').first().waitFor();
      await gallery(page, 'dialog-preferences', focusDialog(page));
      await closeDialog(prefs);

      await s.json(['stop', 'guest']);
      fs.writeFileSync(path.join(ARTIFACTS, 'gallery-problems.json'), `${JSON.stringify(problems, null, 2)}\n`);
      expect(shots.length).toBeGreaterThanOrEqual(4 * 20);
      expect(problems).toEqual([]);
    }, 900_000);
  },
);
