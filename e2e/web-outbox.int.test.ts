/**
 * A call the page reported as failed because the connection to `vmdesk web` went away must never
 * run later, when the page reconnects (issue 20: a Start reported as "connection lost" booted the
 * VM once the server was back).
 *
 * Real parts: `vmdesk web` (server and driver), the test guest under QEMU, Debian Chromium.
 * - Start: the one stand-in is a TCP relay between Chromium and the server, because nothing real
 *   can hold a browser's WebSocket half-closed on demand: the Toolbar disables Start as soon as
 *   the page hears the socket close, so the only moment a click on Start meets a socket that is
 *   not open is the closing handshake (the server said goodbye, the TCP connection is not down
 *   yet; Chromium waits a moment for the server to close it). The relay makes that moment on
 *   request: it sends the browser a WebSocket Close frame, forwards nothing more and refuses new
 *   connections until the test lets the page reconnect.
 * - New VM stays usable while the page reconnects: there the real server is simply stopped.
 */
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, qemuPidsUnder, Sandbox, waitFor } from './support/cli.js';
import { CHROMIUM, launchChromium, openPage, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** A server's Close frame: FIN + opcode 8, unmasked, code 1001 ("going away"). */
const CLOSE_FRAME = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/**
 * Follows one direction of a WebSocket connection: skips the HTTP handshake, then tells frame
 * boundaries (so a Close frame is never spliced into the middle of another frame) and the
 * opcode of every frame that starts.
 */
class FrameTracker {
  private http = '';
  private inHttp = true;
  private header = Buffer.alloc(0);
  private left = 0;
  constructor(private readonly onFrame: (opcode: number) => void = () => {}) {}

  get atBoundary(): boolean {
    return !this.inHttp && this.left === 0 && this.header.length === 0;
  }

  feed(chunk: Buffer): void {
    let i = 0;
    if (this.inHttp) {
      this.http += chunk.toString('latin1');
      const end = this.http.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.inHttp = false;
      i = chunk.length - (this.http.length - (end + 4));
    }
    while (i < chunk.length) {
      if (this.left > 0) {
        const n = Math.min(this.left, chunk.length - i);
        this.left -= n;
        i += n;
        continue;
      }
      this.header = Buffer.concat([this.header, chunk.subarray(i, i + 1)]);
      i++;
      if (this.header.length < 2) continue;
      const len7 = this.header[1]! & 0x7f;
      const size = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.header[1]! & 0x80 ? 4 : 0);
      if (this.header.length < size) continue;
      this.onFrame(this.header[0]! & 0x0f);
      this.left =
        len7 === 126 ? this.header.readUInt16BE(2) : len7 === 127 ? Number(this.header.readBigUInt64BE(2)) : len7;
      this.header = Buffer.alloc(0);
    }
  }
}

interface Relayed {
  client: net.Socket;
  upstream: net.Socket;
  api: boolean;
  held: boolean;
  cutAsked: boolean;
  down: FrameTracker;
  browserClosing: Promise<void>;
}

/** The TCP relay (see the file comment). */
class Relay {
  private readonly server: net.Server;
  private readonly conns = new Set<Relayed>();
  private refusing = false;

  private constructor(
    private readonly targetPort: number,
    host: string,
    port: number,
  ) {
    this.server = net.createServer((client) => this.accept(client));
    this.server.listen(port, host);
  }

  static async start(host: string, port: number, targetPort: number): Promise<Relay> {
    const relay = new Relay(targetPort, host, port);
    await new Promise<void>((resolve, reject) => {
      relay.server.once('listening', resolve);
      relay.server.once('error', reject);
    });
    return relay;
  }

  private accept(client: net.Socket): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    let closing!: () => void;
    const conn: Relayed = {
      client,
      upstream,
      api: false,
      held: false,
      cutAsked: false,
      down: new FrameTracker(),
      browserClosing: new Promise<void>((r) => (closing = r)),
    };
    const up = new FrameTracker((opcode) => {
      if (conn.held && opcode === 0x8) closing();
    });
    let first = true;
    this.conns.add(conn);
    client.on('data', (chunk: Buffer) => {
      if (first) conn.api = chunk.toString('latin1').startsWith('GET /api');
      first = false;
      if (conn.api) up.feed(chunk);
      if (!conn.held) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (conn.held) return;
      client.write(chunk);
      if (!conn.api) return;
      conn.down.feed(chunk);
      if (conn.cutAsked && conn.down.atBoundary) this.hold(conn);
    });
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.conns.delete(conn);
    };
    client.on('close', () => {
      if (!conn.held) drop();
    });
    upstream.on('close', () => {
      if (!conn.held) drop();
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
  }

  private hold(conn: Relayed): void {
    conn.held = true;
    conn.client.write(CLOSE_FRAME);
  }

  /**
   * The server "goes away" for the page: every other connection is dropped, the `/api` socket
   * gets a Close frame and nothing more; new connections are refused. Resolves once Chromium has
   * answered the Close (its WebSocket is CLOSING now, and its page has not heard of it yet).
   */
  async cut(): Promise<void> {
    this.refusing = true;
    const closing: Promise<void>[] = [];
    for (const conn of [...this.conns]) {
      if (!conn.api) {
        conn.client.destroy();
        conn.upstream.destroy();
        this.conns.delete(conn);
        continue;
      }
      conn.cutAsked = true;
      if (conn.down.atBoundary) this.hold(conn);
      closing.push(conn.browserClosing);
    }
    expect(closing).toHaveLength(1);
    await Promise.all(closing);
  }

  /** The server is "back": held connections end, new ones are relayed again. */
  restore(): void {
    for (const conn of this.conns) {
      conn.client.destroy();
      conn.upstream.destroy();
    }
    this.conns.clear();
    this.refusing = false;
  }

  close(): Promise<void> {
    this.restore();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** The relay listens on this loopback address at the server's port (same port: same origin). */
const RELAY_HOST = '127.0.0.2';

describe.skipIf(!fs.existsSync(CHROMIUM))('calls while the page is disconnected (skipped without Chromium)', () => {
  it('never runs a Start that the page reported as not done, after the page reconnects', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const name = 'outbox';
    await s.json<VmSummary>(['define', '--name', name, '--memory', '256M', '--cdrom', guestIso()]);
    const web = await startWeb(s);
    cleanups.push(() => web.stop());
    const relay = await Relay.start(RELAY_HOST, web.port, web.port);
    cleanups.push(() => relay.close());

    // The page is opened as http://localhost:PORT, an origin the server accepts, and Chromium
    // resolves localhost to the relay.
    const browser = await launchChromium([`--host-resolver-rules=MAP localhost ${RELAY_HOST}`]);
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const url = new URL(web.url);
    url.hostname = 'localhost';
    await page.goto(url.toString());
    const app = new AppPage(page);
    await app.select(name);
    await app.waitForState(name, 'stopped');
    const start = app.action('Start');
    await expect.poll(() => start.isEnabled(), { timeout: 30_000 }).toBe(true);

    const reconnecting = page.getByRole('status').filter({ hasText: 'Reconnecting' });
    const error = page.getByRole('main').getByRole('alert');
    // The click has to land in the closing handshake (Chromium gives the server a moment to
    // close TCP). If the page heard of the close first, Start is disabled and the click does not
    // happen: let the page reconnect and try again.
    let report = '';
    for (let attempt = 1; attempt <= 5 && !report; attempt++) {
      await relay.cut();
      const clicked = await start.click({ timeout: 1_500 }).then(
        () => true,
        () => false,
      );
      await reconnecting.waitFor({ timeout: 30_000 });
      // A click that met the button just as it was disabled does nothing: no report, try again.
      if (clicked)
        report = await error.waitFor({ timeout: 15_000 }).then(
          () => error.innerText(),
          () => '',
        );
      if (report) await shot(page, 'outbox-start-not-sent');
      relay.restore();
      await reconnecting.waitFor({ state: 'detached', timeout: 60_000 });
    }
    expect(report, 'a click on Start while the WebSocket was closing').not.toBe('');

    // Reconnected (the banner is gone): a Start left in the outbox was sent the moment the socket
    // opened, before the page read the list again. Watch the VM for a while.
    const watchUntil = Date.now() + 5_000;
    while (Date.now() < watchUntil) {
      const vm = await s.json<VmSummary>(['info', name]);
      expect(vm.state, 'the VM after the page reconnected').toBe('stopped');
      expect(qemuPidsUnder(s.root), 'QEMU processes after the page reconnected').toEqual([]);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await app.vmState(name)).toBe('stopped');
    // What the page said is what happened: the Start was not sent, and the user should retry.
    expect(report).toMatch(/not sent/i);
    expect(report).toMatch(/try again/i);

    // The same page still starts the VM when asked while connected.
    await start.click();
    await app.waitForState(name, 'running');
    await waitFor(() => qemuPidsUnder(s.root).length === 1, 'the VM’s QEMU process', 30_000);
    await app.forceOff();
    await app.waitForState(name, 'stopped');
    expect(pageErrors).toEqual([]);
  });

  it('never defines a VM that the New VM dialog reported as not sent, once the stopped server is back', async () => {
    // The real server stops: the page is really disconnected. New VM stays usable meanwhile.
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    let web = await startWeb(s);
    cleanups.push(() => web.stop());
    const page = await openPage(web.url, (c) => cleanups.push(c));
    const app = new AppPage(page);
    await page.getByRole('heading', { name: 'No virtual machines yet' }).waitFor({ timeout: 30_000 });
    const reconnecting = page.getByRole('status').filter({ hasText: 'Reconnecting' });

    await web.stop();
    await reconnecting.waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'New VM' }).click();
    const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
    await dialog.getByLabel('Name').fill('ghost');
    await dialog.getByLabel('Memory (MiB)').fill('256');
    await dialog.getByLabel('Disk size (GiB)').fill('0');
    await dialog.getByLabel('ISO path').fill(guestIso());
    await dialog.getByRole('button', { name: 'Create' }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    const report = (await alert.innerText()).trim();
    await shot(page, 'outbox-new-vm-not-sent');

    web = await startWeb(s, ['--port', String(web.port)]);
    await reconnecting.waitFor({ state: 'detached', timeout: 60_000 });
    const watchUntil = Date.now() + 5_000;
    while (Date.now() < watchUntil) {
      const names = (await s.json<VmSummary[]>(['list'])).map((v) => v.name);
      expect(names, 'VMs after the page reconnected').toEqual([]);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(report).toMatch(/not sent/i);
    expect(report).toMatch(/try again/i);

    // Connected again, the same dialog defines it.
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached', timeout: 30_000 });
    await app.waitForState('ghost', 'stopped');
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['ghost']);
  });
});
