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

  async tab(name: 'Overview' | 'Screen' | 'Serial console' | 'Logs'): Promise<void> {
    await this.page.getByRole('tab', { name }).click();
  }

  terminalText(): Promise<string> {
    return this.page.locator('[data-testid="serial-terminal"] .xterm-rows').innerText();
  }

  async waitForTerminalText(text: string, timeoutMs = 120_000): Promise<void> {
    await this.page.locator('[data-testid="serial-terminal"] .xterm-rows', { hasText: text }).waitFor({ timeout: timeoutMs });
  }

  /** Share of canvas pixels that are bright: VGA text is light grey on black. */
  async vncLitShare(): Promise<number> {
    return this.page.locator('[data-testid="vnc-screen"] canvas').first().evaluate((c: HTMLCanvasElement) => {
      const ctx = c.getContext('2d');
      if (!ctx || c.width === 0 || c.height === 0) return 0;
      const { data } = ctx.getImageData(0, 0, c.width, c.height);
      let lit = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i]! + data[i + 1]! + data[i + 2]! > 300) lit++;
      return lit / (data.length / 4);
    });
  }
}
