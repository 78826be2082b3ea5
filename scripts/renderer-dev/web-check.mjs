// Checks the browser client of the web wire protocol (api/web-api.ts) against a stand-in server
// speaking that protocol: token, calls, events, re-subscribe and refetch after a dropped socket,
// a /stream channel. Usage: node scripts/build-renderer.mjs && node scripts/renderer-dev/web-check.mjs
/* global document */
import { chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { PRODUCTION_DIR, serve } from './serve.mjs';

const TOKEN = 'tok/en+1';
const vm = (name, state) => ({
  id: `00000000-0000-4000-8000-00000000000${name.length}`,
  name,
  state,
  file: `/x/${name}.json`,
});
const calls = [];
let subscribes = 0;
const apiSockets = new Set();
const streamSockets = new Set();
let streamsOpened = 0;

const server = await serve(0, PRODUCTION_DIR);
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, sock, head) => {
  const url = new URL(req.url, 'http://x');
  if (url.searchParams.get('token') !== TOKEN) {
    sock.destroy();
    return;
  }
  wss.handleUpgrade(req, sock, head, (ws) => {
    if (url.pathname === '/api') {
      apiSockets.add(ws);
      ws.on('close', () => apiSockets.delete(ws));
      ws.on('message', (raw) => {
        const msg = JSON.parse(String(raw));
        if (msg.subscribe) {
          subscribes++;
          ws.send(JSON.stringify({ id: msg.id, result: {} }));
          return;
        }
        calls.push(msg.method);
        if (msg.method === 'vm.list')
          ws.send(JSON.stringify({ id: msg.id, result: [vm('alpha', 'running'), vm('beta', 'stopped')] }));
        else if (msg.method === 'vm.start')
          ws.send(
            JSON.stringify({
              id: msg.id,
              error: {
                code: 'no-qemu',
                message: 'QEMU is not installed. Install it: sudo apt install qemu-system-x86',
              },
            }),
          );
        else ws.send(JSON.stringify({ id: msg.id, error: { code: 'internal', message: 'not in this stand-in' } }));
      });
    } else if (url.pathname === '/stream') {
      const params = JSON.parse(url.searchParams.get('params'));
      streamsOpened++;
      streamSockets.add(ws);
      ws.on('close', () => streamSockets.delete(ws));
      if (url.searchParams.get('name') !== 'console.serial') {
        ws.close(4400, 'only serial here');
        return;
      }
      ws.send(Buffer.from(`hello from ${params.vm}\r\n`));
      ws.on('message', (d) => ws.send(d));
    }
  });
});

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

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
await page.goto(`http://127.0.0.1:${server.address().port}/#token=${encodeURIComponent(TOKEN)}`);
const list = page.getByRole('navigation', { name: 'Virtual machines' });

await check('lists VMs over /api with the token, and hides the token from the address bar', async () => {
  await list.getByRole('option', { name: /^alpha/ }).waitFor();
  expectTrue(!page.url().includes('token'), `url still has the token: ${page.url()}`);
  expectTrue(subscribes === 1, `subscribed ${subscribes} times`);
});

await check('applies a pushed vm.changed', async () => {
  for (const ws of apiSockets) ws.send(JSON.stringify({ event: 'vm.changed', data: vm('beta', 'crashed') }));
  await list.getByRole('option', { name: /^beta/ }).getByText('crashed').waitFor();
});

await check('shows a call error with the driver message', async () => {
  await list.getByRole('option', { name: /^beta/ }).click();
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page.getByRole('alert').getByText('QEMU is not installed').waitFor();
});

await check('reconnects, re-subscribes and refetches after the socket drops', async () => {
  for (const ws of apiSockets) ws.terminate();
  await page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor();
  await page.waitForFunction(() => document.querySelector('[role="status"]')?.textContent === '', null, {
    timeout: 5000,
  });
  expectTrue(subscribes === 2, `subscribed ${subscribes} times`);
  expectTrue(calls.filter((c) => c === 'vm.list').length === 2, `vm.list calls: ${calls.join(',')}`);
});

await check('a reload keeps working without the token in the URL', async () => {
  await page.reload();
  await list.getByRole('option', { name: /^alpha/ }).waitFor();
});

await check('serial console over /stream: replay and echo', async () => {
  for (const ws of apiSockets) ws.send(JSON.stringify({ event: 'vm.changed', data: vm('alpha', 'running') }));
  await list.getByRole('option', { name: /^alpha/ }).click();
  await page.getByRole('tab', { name: 'Serial console' }).click();
  await page.locator('[data-testid="serial-terminal"] .xterm-rows').getByText('hello from').waitFor();
  await page.locator('[data-testid="serial-terminal"] .xterm').click();
  await page.keyboard.type('ping');
  await page.locator('[data-testid="serial-terminal"] .xterm-rows').getByText('ping').waitFor();
});

await check('the serial console reconnects (and replays) after its stream is lost', async () => {
  const before = streamsOpened;
  for (const ws of streamSockets) ws.terminate();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="serial-terminal"] .xterm-rows')?.textContent?.includes('hello from'),
    null,
    { timeout: 5000 },
  );
  await page.waitForTimeout(1500);
  expectTrue(streamsOpened === before + 1, `streams opened: ${streamsOpened - before}`);
  expectTrue(
    !(await page.locator('[data-testid="serial-terminal"] .xterm-rows').innerText()).includes('ping'),
    'screen was reset before the replay',
  );
});

console.log(results.join('\n'));
console.log(errors.length ? `page errors:\n${errors.join('\n')}` : 'no page errors');
await browser.close();
wss.close();
server.close();
