/**
 * The Origin check against a real browser: the same script, served from another origin and
 * from vmdesk's own, tries to open /api with the right token.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type {
  CallName,
  CallParams,
  CallResults,
  ContractEvents,
  EventName,
  StreamName,
  StreamParams,
} from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import type { ByteStream } from '../consoles/byte-channel.js';
import type { DriverLink } from './driver-link.js';
import { startWebServer } from './web-server.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
const TOKEN = 'chromium-test-token';

/** Answers every call with a VM named after params.vm; has no events and no streams. */
class CallOnlyLink implements Pick<DriverLink, 'call' | 'subscribe' | 'openStream'> {
  readonly calls: CallName[] = [];
  async call<C extends CallName>(method: C, params: CallParams<C>): Promise<CallResults[C]> {
    this.calls.push(method);
    const vm: VmSummary = {
      id: '11111111-2222-4333-8444-555555555555',
      name: String((params as { vm?: unknown }).vm),
      state: 'running',
      file: '/cfg/vms/web.json',
    };
    return vm as CallResults[C];
  }
  async subscribe(_listener: <E extends EventName>(name: E, data: ContractEvents[E]) => void): Promise<() => void> {
    return () => {};
  }
  async openStream<S extends StreamName>(name: S, _params: StreamParams<S>): Promise<ByteStream> {
    throw new VmdeskError('not-found', `No stream ${name} in this test.`);
  }
}

const PROBE_HTML = '<!doctype html><meta charset="utf-8"><title>probe</title><script src="/probe.js"></script>';
// Reports whether the socket opened and, if so, the reply to one call. No inline script: the
// vmdesk page runs under script-src 'self'.
const PROBE_JS = `
const q = new URLSearchParams(location.hash.slice(1));
window.probe = new Promise((resolve) => {
  let opened = false;
  const ws = new WebSocket('ws://127.0.0.1:' + q.get('port') + '/api?token=' + encodeURIComponent(q.get('token')));
  ws.onopen = () => { opened = true; ws.send(JSON.stringify({ id: 1, method: 'vm.get', params: { vm: 'web' } })); };
  ws.onmessage = (e) => { resolve({ opened, reply: JSON.parse(e.data) }); ws.close(); };
  ws.onclose = (e) => resolve({ opened, code: e.code });
});
`;

describe('Origin check in a real browser', () => {
  it.skipIf(!hasChromium)(
    `refuses a page on another origin and accepts vmdesk's own page${hasChromium ? '' : ` (SKIPPED: ${CHROMIUM} is missing)`}`,
    async () => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-web-chromium-'));
      const staticDir = path.join(tmp, 'static');
      fs.mkdirSync(staticDir);
      fs.writeFileSync(path.join(staticDir, 'index.html'), PROBE_HTML);
      fs.writeFileSync(path.join(staticDir, 'probe.js'), PROBE_JS);
      const link = new CallOnlyLink();
      const log: string[] = [];
      const vmdesk = await startWebServer({ link, staticDir, token: TOKEN, log: (l) => log.push(l) });
      // Another port is another origin: this stands for any web site the user has open.
      const evil = http.createServer((req, res) => {
        const js = req.url === '/probe.js';
        res.writeHead(200, { 'Content-Type': js ? 'text/javascript' : 'text/html' }).end(js ? PROBE_JS : PROBE_HTML);
      });
      await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
      const evilOrigin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      try {
        const page = await browser.newPage();
        const hash = `#port=${vmdesk.port}&token=${TOKEN}`;

        await page.goto(`${evilOrigin}/${hash}`);
        const foreign = await page.evaluate(() => (window as unknown as { probe: Promise<unknown> }).probe);
        expect(foreign).toEqual({ opened: false, code: 1006 });
        expect(log).toContainEqual(expect.stringMatching(new RegExp(`403 \\(origin ${evilOrigin}\\)`)));
        expect(link.calls).toEqual([]);

        await page.goto(`${vmdesk.origin}/${hash}`);
        const own = await page.evaluate(() => (window as unknown as { probe: Promise<unknown> }).probe);
        expect(own).toMatchObject({ opened: true, reply: { id: 1, result: { name: 'web' } } });
        expect(link.calls).toEqual(['vm.get']);
      } finally {
        await browser.close();
        await vmdesk.close();
        await new Promise((r) => evil.close(r));
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    },
  );
});
