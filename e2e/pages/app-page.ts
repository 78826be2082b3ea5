/// <reference lib="dom" />
/** Page object for the vmdesk renderer: the stable hooks (roles, names, test ids) the UI promises. */
import type { Locator, Page } from 'playwright-core';

export class AppPage {
  constructor(readonly page: Page) {}

  vmList(): Locator {
    return this.page.getByRole('navigation', { name: 'Virtual machines' });
  }

  vmItem(name: string): Locator {
    return this.vmList().locator('[role="option"], [role="listitem"]').filter({ hasText: name }).first();
  }

  async vmState(name: string): Promise<string> {
    return (await this.vmItem(name).locator('[data-testid="vm-state"]').innerText()).trim();
  }

  async waitForState(name: string, state: string, timeoutMs = 120_000): Promise<void> {
    await this.vmItem(name).locator('[data-testid="vm-state"]', { hasText: state }).waitFor({ timeout: timeoutMs });
  }

  async createVm(v: { name: string; memoryMiB: number; diskGiB: number; iso: string; accel?: string }): Promise<void> {
    await this.page.getByRole('button', { name: 'New VM' }).click();
    const dialog = this.page.getByRole('dialog', { name: 'New virtual machine' });
    await dialog.getByLabel('Name').fill(v.name);
    await dialog.getByLabel('Memory (MiB)').fill(String(v.memoryMiB));
    await dialog.getByLabel('Disk size (GiB)').fill(String(v.diskGiB));
    await dialog.getByLabel('ISO path').fill(v.iso);
    if (v.accel) await dialog.getByLabel('Accelerator').selectOption(v.accel);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
  }

  async select(name: string): Promise<void> {
    await this.vmItem(name).click();
  }

  action(name: 'Start' | 'Shut down' | 'Force off' | 'Pause' | 'Resume' | 'Reboot' | 'Delete'): Locator {
    return this.page.getByRole('main').getByRole('button', { name, exact: true });
  }

  /** Force off from the toolbar, answering the confirmation it asks first (Preferences' default). */
  async forceOff(): Promise<void> {
    await this.action('Force off').click();
    const dialog = this.page.getByRole('dialog', { name: /^Force off “/ });
    await dialog.getByRole('button', { name: 'Force off', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
  }

  async tab(name: 'Overview' | 'Screen' | 'Serial console' | 'Logs'): Promise<void> {
    await this.page.getByRole('tab', { name }).click();
  }

  terminalText(): Promise<string> {
    return this.page.locator('[data-testid="serial-terminal"] .xterm-rows').innerText();
  }

  async waitForTerminalText(text: string, timeoutMs = 120_000): Promise<void> {
    await this.page
      .locator('[data-testid="serial-terminal"] .xterm-rows', { hasText: text })
      .waitFor({ timeout: timeoutMs });
  }

  /** Share of canvas pixels that are bright: VGA text is light grey on black. */
  async vncLitShare(): Promise<number> {
    return this.page
      .locator('[data-testid="vnc-screen"] canvas')
      .first()
      .evaluate((c: HTMLCanvasElement) => {
        const ctx = c.getContext('2d');
        if (!ctx || c.width === 0 || c.height === 0) return 0;
        const { data } = ctx.getImageData(0, 0, c.width, c.height);
        let lit = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i]! + data[i + 1]! + data[i + 2]! > 300) lit++;
        return lit / (data.length / 4);
      });
  }

  /** The Screen tab's keyboard indicator: its text says who has the keyboard; a click toggles. */
  keyboardGrab(): Locator {
    return this.page.getByTestId('keyboard-grab');
  }

  /** Opens the Screen tab's "Send key" menu and resolves with it (items are named "Ctrl+Alt+F2" …). */
  async openSendKeyMenu(): Promise<Locator> {
    await this.page.getByRole('main').getByRole('button', { name: 'Send key', exact: true }).click();
    const menu = this.page.getByRole('menu', { name: 'Send key' });
    await menu.waitFor();
    return menu;
  }

  /** Sends a special key from the Screen tab's "Send key" menu; the menu closes. */
  async sendSpecialKey(name: string): Promise<void> {
    const menu = await this.openSendKeyMenu();
    await menu.getByRole('menuitem', { name, exact: true }).click();
    await menu.waitFor({ state: 'detached' });
  }

  /** The Screen tab's "Type text" dialog. */
  typeTextDialog(): Locator {
    return this.page.getByRole('dialog', { name: 'Type text' });
  }

  /** Opens "Type text…" in the Screen tab and resolves with its dialog. */
  async openTypeText(): Promise<Locator> {
    await this.page.getByRole('main').getByRole('button', { name: 'Type text…', exact: true }).click();
    const dialog = this.typeTextDialog();
    await dialog.getByLabel('Text to type').waitFor();
    return dialog;
  }

  /** The create-from-ISO wizard. */
  wizard(): Locator {
    return this.page.getByRole('dialog', { name: 'Create a virtual machine' });
  }

  /**
   * Starts a real drag of a file over the window: a DataTransfer holding a File built in the
   * page from `base64`, with dragenter and dragover on the body (the overlay shows).
   * dropDragged() finishes it with the drop event.
   */
  async dragFileOver(name: string, base64: string): Promise<void> {
    await this.page.evaluate(
      ([n, b64]) => {
        const bin = atob(b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], n, { type: 'application/octet-stream' }));
        const w = window as unknown as { vmdeskTestDrag?: DataTransfer };
        w.vmdeskTestDrag = dt;
        for (const type of ['dragenter', 'dragover'])
          document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      },
      [name, base64] as const,
    );
  }

  async dropDragged(): Promise<void> {
    await this.page.evaluate(() => {
      const dt = (window as unknown as { vmdeskTestDrag?: DataTransfer }).vmdeskTestDrag;
      if (!dt) throw new Error('dragFileOver() first');
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
  }

  /** Counts the user's clicks from now on (clickCount() reads it): the product promises few. */
  async countClicks(): Promise<void> {
    await this.page.evaluate(() => {
      const w = window as unknown as { vmdeskClicks?: number };
      w.vmdeskClicks = 0;
      document.addEventListener(
        'click',
        (e) => {
          if (e.isTrusted) w.vmdeskClicks!++;
        },
        true,
      );
    });
  }

  /** Opens the Settings tab of the selected VM; its form is named "Settings of NAME". */
  async openSettings(vmName: string): Promise<Locator> {
    await this.page.getByRole('tab', { name: 'Settings', exact: true }).click();
    const form = this.page.getByRole('form', { name: `Settings of ${vmName}` });
    await form.waitFor();
    return form;
  }

  /**
   * Types the given settings into the selected VM's Settings form and saves. Resolves with the
   * status text ("Saved." …) or throws with the error the form shows next to a field or above it.
   */
  async saveSettings(
    vmName: string,
    v: { name?: string; memoryMiB?: number; cpus?: number; display?: string; accel?: string },
  ): Promise<string> {
    const form = await this.openSettings(vmName);
    if (v.name !== undefined) await form.getByLabel('Name', { exact: true }).fill(v.name);
    if (v.memoryMiB !== undefined) await form.getByLabel('Memory (MiB)').fill(String(v.memoryMiB));
    if (v.cpus !== undefined) await form.getByLabel('CPUs', { exact: true }).fill(String(v.cpus));
    if (v.display) await form.getByLabel('Display').selectOption(v.display);
    if (v.accel) await form.getByLabel('Accelerator').selectOption(v.accel);
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    // Not inside `form`: a new name renames the form too.
    const status = this.page
      .getByRole('main')
      .getByRole('status')
      .filter({ hasText: /^Saved/ });
    const error = this.page.getByRole('main').locator('.field-error, [role="alert"]').first();
    await status.or(error).first().waitFor();
    if (await error.isVisible()) throw new Error(`Settings not saved: ${(await error.innerText()).trim()}`);
    return (await status.innerText()).trim();
  }

  /** The Settings form's "Desktop integration" card. */
  desktopCard(): Locator {
    return this.page.getByTestId('desktop-integration');
  }

  /** Adds a shared folder in the Desktop integration card (not saved yet); the tag is proposed when omitted. */
  async addShare(v: { path: string; tag?: string; readOnly?: boolean }): Promise<void> {
    const card = this.desktopCard();
    await card.getByLabel('Folder on the host').fill(v.path);
    if (v.tag !== undefined) await card.getByLabel('Tag', { exact: true }).fill(v.tag);
    if (v.readOnly) await card.getByLabel('Read-only').check();
    await card.getByRole('button', { name: 'Add folder' }).click();
  }

  /** Opens the Screen toolbar's USB menu and waits until it has read the host's devices. */
  async openUsbMenu(): Promise<Locator> {
    await this.page.getByRole('button', { name: 'USB', exact: true }).click();
    const menu = this.page.getByRole('menu', { name: 'USB' });
    await menu.waitFor();
    await menu.getByText('Reading the host’s USB devices…').waitFor({ state: 'detached' });
    return menu;
  }

  pasteToGuest(): Locator {
    return this.page.getByTestId('paste-to-guest');
  }

  clickCount(): Promise<number> {
    return this.page.evaluate(() => (window as unknown as { vmdeskClicks?: number }).vmdeskClicks ?? 0);
  }

  /** The selected VM's "Port forwards" card, on its Overview. */
  forwardsCard(): Locator {
    return this.page.getByRole('main').getByRole('region', { name: 'Port forwards' });
  }

  /** The row of the forward on `hostAddr:hostPort` in the Port forwards card. */
  forwardRow(hostPort: number, hostAddr = '127.0.0.1'): Locator {
    return this.forwardsCard()
      .locator('[data-testid="forward-row"]')
      .filter({ hasText: `${hostAddr}:${hostPort}` });
  }

  /**
   * Adds a port forward with the card's form on the Overview. Resolves with the card's status
   * ("Added … listening now.") or throws with the refusal the form shows under its inputs.
   */
  async addForward(v: {
    proto?: 'tcp' | 'udp';
    hostPort: number;
    guestPort: number;
    everyNetwork?: boolean;
  }): Promise<string> {
    await this.tab('Overview');
    const form = this.forwardsCard().getByRole('form', { name: /^Add a port forward to / });
    if (v.proto) await form.getByLabel('Protocol').selectOption(v.proto);
    await form.getByLabel('Host port').fill(String(v.hostPort));
    await form.getByLabel('Guest port').fill(String(v.guestPort));
    await form.getByLabel('Listen on').selectOption(v.everyNetwork ? 'all' : 'local');
    await form.getByRole('button', { name: 'Add forward' }).click();
    return this.#forwardOutcome(/^Added /, form.locator('.field-error'));
  }

  /** Removes the forward on `proto hostAddr:hostPort` with its Remove button; resolves with the status. */
  async removeForward(hostPort: number, opts: { proto?: 'tcp' | 'udp'; hostAddr?: string } = {}): Promise<string> {
    const label = `${opts.proto ?? 'tcp'} ${opts.hostAddr ?? '127.0.0.1'}:${hostPort}`;
    await this.forwardsCard()
      .getByRole('button', { name: `Remove ${label}`, exact: true })
      .click();
    return this.#forwardOutcome(/^Removed /, this.forwardsCard().locator('.forwards-remove-error'));
  }

  /** The card's status once it matches `done`, or throws with the first of `errors` that shows. */
  async #forwardOutcome(done: RegExp, errors: Locator): Promise<string> {
    const status = this.forwardsCard().getByRole('status').filter({ hasText: done });
    const error = errors.first();
    await status.or(error).first().waitFor();
    if (await error.isVisible()) throw new Error(`Port forwards: ${(await error.innerText()).trim()}`);
    return (await status.innerText()).trim();
  }

  /** The ISO library dialog (header button "ISO library"). */
  isoLibrary(): Locator {
    return this.page.getByRole('dialog', { name: 'ISO library' });
  }

  /** Opens the ISO library and waits until it has read the list (or says it is empty). */
  async openIsoLibrary(): Promise<Locator> {
    await this.page.getByRole('button', { name: 'ISO library', exact: true }).click();
    const dialog = this.isoLibrary();
    await dialog
      .getByRole('list', { name: 'Images in the ISO library' })
      .or(dialog.getByText('The ISO library is empty'))
      .waitFor();
    return dialog;
  }

  /** An image of the ISO library: a list item named by its file name. */
  isoItem(name: string): Locator {
    return this.isoLibrary().getByRole('listitem', { name, exact: true });
  }

  /** The file names the ISO library lists, in order. */
  isoNames(): Promise<string[]> {
    return this.isoLibrary()
      .getByRole('listitem')
      .evaluateAll((items) => items.map((i) => i.getAttribute('aria-label') ?? ''));
  }

  /** "Used by “a”, “b” · …" or "Not used". */
  async isoUsage(name: string): Promise<string> {
    return (await this.isoItem(name).getByTestId('iso-usage').innerText()).trim();
  }

  /** Deletes an unused image through its Delete button and the confirmation; resolves once it left the list. */
  async deleteIso(name: string): Promise<void> {
    const item = this.isoItem(name);
    await item.getByRole('button', { name: `Delete ${name}` }).click();
    await item
      .getByRole('group', { name: `Confirm deleting ${name}` })
      .getByRole('button', { name: 'Delete', exact: true })
      .click();
    await item.waitFor({ state: 'detached' });
  }

  /** Opens the selected VM's Snapshots tab and waits until it has read the snapshots. */
  async openSnapshots(): Promise<Locator> {
    await this.page.getByRole('tab', { name: 'Snapshots', exact: true }).click();
    const summary = this.page.getByTestId('snapshots-summary');
    await summary.filter({ hasNotText: 'Reading…' }).waitFor();
    return this.page.getByRole('main');
  }

  /** A snapshot's card in the Snapshots tab (a group named by the snapshot). */
  snapshotNode(name: string): Locator {
    return this.page.getByRole('main').getByRole('group', { name, exact: true });
  }

  /** The names of the snapshots in the tab, in tree order, each indented two spaces per level. */
  snapshotOutline(): Promise<string[]> {
    return this.page
      .getByRole('main')
      .locator('.snap-tree [data-testid="snapshot"], .snap-tree [data-testid="you-are-here"]')
      .evaluateAll((els) =>
        els.map((el) => {
          let depth = 0;
          for (let p = el.parentElement; p && !p.classList.contains('snap-tree'); p = p.parentElement)
            if (p.classList.contains('snap-children')) depth++;
          const label = el.getAttribute('data-testid') === 'you-are-here' ? '*' : (el.getAttribute('aria-label') ?? '');
          return `${'  '.repeat(depth)}${label}`;
        }),
      );
  }

  /** The Snapshots tab's status line once it matches `done`. */
  async snapshotStatus(done: RegExp): Promise<string> {
    const status = this.page.getByRole('main').locator('.snapshots-status').filter({ hasText: done });
    await status.waitFor({ timeout: 120_000 });
    return (await status.innerText()).trim();
  }

  /**
   * Takes a snapshot from the Snapshots tab (open it first). Resolves with the name the dialog
   * proposed; throws with the driver's refusal as the dialog shows it (the dialog stays open).
   */
  async takeSnapshot(v: { name?: string; description?: string; disksOnly?: boolean } = {}): Promise<string> {
    await this.page.getByRole('main').getByRole('button', { name: 'Take snapshot…' }).first().click();
    const dialog = this.page.getByRole('dialog', { name: /^Take a snapshot of / });
    const name = dialog.getByLabel('Name', { exact: true });
    const proposed = await name.inputValue();
    if (v.name !== undefined) await name.fill(v.name);
    if (v.description !== undefined) await dialog.getByLabel('Description (optional)').fill(v.description);
    if (v.disksOnly) await dialog.getByRole('radio', { name: /^Disks only/ }).check();
    await dialog.getByRole('button', { name: 'Take snapshot', exact: true }).click();
    const error = dialog.getByRole('alert');
    const took = this.page
      .getByRole('main')
      .locator('.snapshots-status')
      .filter({ hasText: `Took “${v.name ?? proposed}”.` });
    await error.or(took).first().waitFor({ timeout: 180_000 });
    // The refusal's sentence, without the notice's title.
    if (await error.isVisible())
      throw new Error(`Snapshot not taken: ${(await error.locator('p').innerText()).trim()}`);
    return proposed;
  }
}
