// Behaviour checks of the built renderer on the demo fake (consoles survive tab and VM
// switches, deleted VM, keyboard, dialogs). Usage:
//   node scripts/build-renderer.mjs --demo && node scripts/renderer-dev/smoke.mjs
/* global window, document */
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const server = await serve(0);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
page.on('console', (m) => {
  if (m.type() === 'error') errors.push(m.text());
});
await page.goto(`http://127.0.0.1:${server.address().port}/#demo`);
const results = [];
const check = async (name, fn) => {
  try {
    await fn();
    results.push(`ok   ${name}`);
  } catch (e) {
    results.push(`FAIL ${name}: ${e.message.split('\n')[0]}`);
  }
};
const expectTrue = (cond, what) => {
  if (!cond) throw new Error(what);
};
const vm = (name) =>
  page.getByRole('navigation', { name: 'Virtual machines' }).getByRole('option', { name: new RegExp(`^${name}`) });
const serialText = () => page.locator('[data-testid="serial-terminal"] .xterm-rows').innerText();

await check('state words are in the list', async () => {
  expectTrue(
    (await vm('debian-web').locator('[data-testid="vm-state"]').innerText()) === 'running',
    'debian-web running',
  );
  expectTrue(
    (await vm('windows-build').locator('[data-testid="vm-state"]').innerText()) === 'crashed',
    'windows-build crashed',
  );
});

await check('arrow keys move the selection, Enter goes to the tabs', async () => {
  await vm('alpine-arm64').click();
  await page.keyboard.press('ArrowDown');
  expectTrue((await vm('debian-web').getAttribute('aria-selected')) === 'true', 'debian-web selected');
  await page.keyboard.press('Enter');
  expectTrue(await page.evaluate(() => document.activeElement?.getAttribute('role') === 'tab'), 'focus on a tab');
  await page.keyboard.press('ArrowRight');
  expectTrue(
    (await page.getByRole('tab', { name: 'Screen' }).getAttribute('aria-selected')) === 'true',
    'Screen tab selected by arrow',
  );
});

await check('serial console survives tab and VM switches', async () => {
  await page.getByRole('tab', { name: 'Serial console' }).click();
  await page.locator('[data-testid="serial-terminal"] .xterm').click();
  await page.keyboard.type('echo marker-123\r');
  await page.waitForTimeout(200);
  expectTrue((await serialText()).includes('marker-123'), 'typed text shown');
  await page.getByRole('tab', { name: 'Logs' }).click();
  await vm('fedora').click();
  await vm('debian-web').click();
  await page.getByRole('tab', { name: 'Serial console' }).click();
  await page.waitForTimeout(100);
  expectTrue((await serialText()).includes('marker-123'), 'text still there after switching');
});

await check('toolbar buttons follow the state', async () => {
  expectTrue(
    await page.getByRole('button', { name: 'Start', exact: true }).isDisabled(),
    'Start disabled while running',
  );
  expectTrue(await page.getByRole('button', { name: 'Resume' }).isDisabled(), 'Resume disabled while running');
  expectTrue(await page.getByRole('button', { name: 'Pause' }).isEnabled(), 'Pause enabled while running');
});

await check('the screen reconnects after a restart', async () => {
  await page.getByRole('tab', { name: 'Screen' }).click();
  await page.locator('[data-testid="vnc-screen"] canvas').waitFor();
  await page.getByRole('button', { name: 'Force off' }).click();
  await page.getByText('The VM is not running').waitFor();
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page.locator('[data-testid="vnc-screen"] canvas').waitFor({ timeout: 5000 });
  await page.getByText('Connected', { exact: true }).waitFor({ timeout: 5000 });
});

await check('Escape closes the New VM dialog and Create selects the new VM', async () => {
  await page.getByRole('button', { name: 'New VM' }).click();
  await page.getByRole('dialog', { name: 'New virtual machine' }).waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'New VM' }).click();
  const d = page.getByRole('dialog', { name: 'New virtual machine' });
  await d.getByLabel('Name').fill('smoke-vm');
  await d.getByLabel('Disk size (GiB)').fill('0');
  await d.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: 'smoke-vm' }).waitFor();
  expectTrue((await vm('smoke-vm').getAttribute('aria-selected')) === 'true', 'new VM selected');
});

await check('a VM deleted elsewhere while its console is open says so', async () => {
  await vm('debian-web').click();
  await page.getByRole('tab', { name: 'Serial console' }).click();
  await page.evaluate(() => window.vmdeskFake.emitEvent('vm.removed', { id: '3f2a9c41-7d1e-4b8a-9f0c-2e6d5b7a1c90' }));
  await page.getByText('This VM was deleted.').waitFor();
  expectTrue((await vm('debian-web').count()) === 0, 'gone from the list');
});

await check('delete from the toolbar with confirmation', async () => {
  await vm('fedora').click();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  const d = page.getByRole('dialog');
  expectTrue(
    await d.getByRole('checkbox', { name: /Delete disks too/ }).isChecked(),
    'delete disks checked by default',
  );
  await d.getByRole('button', { name: 'Delete' }).click();
  await d.waitFor({ state: 'detached' });
  expectTrue((await vm('fedora').count()) === 0, 'fedora gone');
});

await check('the reconnect banner', async () => {
  await page.evaluate(() => window.vmdeskFake.simulateReconnect(500));
  await page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor();
  await page
    .getByRole('status')
    .filter({ hasText: 'Reconnecting' })
    .waitFor({ state: 'detached', timeout: 3000 })
    .catch(() => {});
  expectTrue((await page.getByRole('status').innerText()) === '', 'banner empty again');
});

console.log(results.join('\n'));
console.log(errors.length ? `page errors:\n${errors.join('\n')}` : 'no page errors');
await browser.close();
server.close();
