// Screenshots of the renderer on the demo fake, light and dark, for looking at the UI.
// Usage: node scripts/build-renderer.mjs --demo && node scripts/renderer-dev/shoot.mjs [outdir] [scene regex]
/* global window */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const out = process.argv[2] ?? '/tmp/renderer-shots';
mkdirSync(out, { recursive: true });
const server = await serve(0);
const base = `http://127.0.0.1:${server.address().port}/`;
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
const problems = [];

/** The vGPU wizard on the stopped demo VM, up to the type step (type picked) or the check step. */
async function vgpuTo(p, step, type) {
  await p.getByRole('option', { name: /^fedora/ }).click();
  await p.getByRole('button', { name: 'Add a vGPU…' }).click();
  const d = p.getByRole('dialog');
  await d.getByRole('radio', { name: /UHD Graphics 630/ }).check();
  await d.getByRole('button', { name: 'Next' }).click();
  await d.getByRole('radio', { name: type }).check();
  if (step === 'check') {
    await d.getByRole('button', { name: 'Next' }).click();
    await d.getByRole('button', { name: 'Next' }).click();
    await d
      .getByRole('status')
      .filter({ hasText: /problems? to fix|Ready/ })
      .waitFor();
  }
  return d;
}

const scenes = {
  'list-overview': async (p) => {
    await p.getByRole('option', { name: /^debian-web/ }).click();
  },
  crashed: async (p) => {
    await p.getByRole('option', { name: /^windows-build/ }).click();
  },
  'serial-console': async (p) => {
    await p.getByRole('option', { name: /^debian-web/ }).click();
    await p.getByRole('tab', { name: 'Serial console' }).click();
    await p.locator('[data-testid="serial-terminal"] .xterm').click();
    await p.keyboard.type('uname -a\r');
    await p.waitForTimeout(300);
  },
  screen: async (p) => {
    await p.getByRole('option', { name: /^debian-web/ }).click();
    await p.getByRole('tab', { name: 'Screen' }).click();
    await p.locator('[data-testid="vnc-screen"] canvas').waitFor();
    await p.waitForTimeout(500);
  },
  'logs-search': async (p) => {
    await p.getByRole('option', { name: /^debian-web/ }).click();
    await p.getByRole('tab', { name: 'Logs' }).click();
    await p.getByRole('button', { name: 'Driver' }).click();
    await p.getByRole('searchbox', { name: 'Search the log' }).fill('vnc viewer');
    await p.getByRole('searchbox', { name: 'Search the log' }).press('Enter');
    await p.getByRole('searchbox', { name: 'Search the log' }).press('Enter');
  },
  host: async (p) => {
    await p.getByRole('button', { name: 'Host', exact: true }).click();
    await p.getByText('qemu-img', { exact: true }).waitFor();
  },
  'new-vm-error': async (p) => {
    await p.getByRole('button', { name: 'New VM' }).click();
    const d = p.getByRole('dialog', { name: 'New virtual machine' });
    await d.getByLabel('Name').fill('debian-web');
    await d.getByLabel('ISO path').fill('Downloads/debian.iso');
    await d.getByRole('button', { name: 'Create' }).click();
    await d.locator('.field-error').first().waitFor();
  },
  'delete-confirm': async (p) => {
    await p.getByRole('option', { name: /^fedora/ }).click();
    await p.getByRole('button', { name: 'Delete', exact: true }).click();
    await p.getByRole('dialog').waitFor();
  },
  reconnecting: async (p) => {
    await p.evaluate(() => window.vmdeskFake.simulateReconnect(60_000));
    await p.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor();
  },
  empty: { hash: '#demo-empty', run: async () => {} },
  'vgpu-type': async (p) => {
    await vgpuTo(p, 'type', /GVTg_V5_4/);
  },
  'vgpu-instance': async (p) => {
    await (await vgpuTo(p, 'type', /GVTg_V5_4/)).getByRole('button', { name: 'Next' }).click();
  },
  'vgpu-check': async (p) => {
    await vgpuTo(p, 'check', /GVTg_V5_8/);
  },
  'vgpu-fixed': async (p) => {
    const d = await vgpuTo(p, 'check', /GVTg_V5_8/);
    await d.getByRole('button', { name: /Fix with administrator rights/ }).click();
    await d
      .getByRole('status')
      .filter({ hasText: /^Ready/ })
      .waitFor();
  },
  'vgpu-assigned': async (p) => {
    const d = await vgpuTo(p, 'check', /GVTg_V5_4/);
    await d.getByRole('button', { name: /Fix with administrator rights/ }).click();
    await d.getByRole('button', { name: 'Assign to fedora-41-workstation' }).click();
    await d.getByRole('button', { name: 'Close' }).first().click();
    await p.getByRole('region', { name: 'Graphics: vGPU' }).scrollIntoViewIfNeeded();
  },
};
const only = process.argv[3] ? new RegExp(process.argv[3]) : null;
for (const name of Object.keys(scenes)) if (only && !only.test(name)) delete scenes[name];

for (const scheme of ['light', 'dark']) {
  for (const [name, scene] of Object.entries(scenes)) {
    const ctx = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      colorScheme: scheme,
      acceptDownloads: true,
    });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`${name}/${scheme}: page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning')
        problems.push(`${name}/${scheme}: console ${m.type()}: ${m.text()}`);
    });
    const run = typeof scene === 'function' ? scene : scene.run;
    await page.goto(base + (scene.hash ?? '#demo'));
    await page.getByRole('navigation', { name: 'Virtual machines' }).waitFor();
    try {
      await run(page);
      await page.waitForTimeout(250);
    } catch (e) {
      problems.push(`${name}/${scheme}: ${e.message.split('\n')[0]}`);
    }
    await page.screenshot({ path: path.join(out, `${name}-${scheme}.png`) });
    await ctx.close();
  }
}
await browser.close();
server.close();
console.log(problems.length ? problems.join('\n') : 'no problems');
console.log(`screenshots in ${out}`);
