/**
 * `vmdesk web` under test: the real server process in a Sandbox, and real Debian Chromium driven
 * by playwright-core (`npx playwright install` cannot download browsers here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { REPO, VMDESK, type Sandbox } from './cli.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.join(REPO, 'artifacts', 'screenshots');

/** `extraArgs`: more Chromium switches (e.g. --host-resolver-rules to put a relay in between). */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // No sandbox as root; no background networking: this machine's network is closed.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

export interface WebProcess {
  child: ChildProcess;
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts `vmdesk web` and resolves with the URL it prints. `memlock` runs it under that
 * RLIMIT_MEMLOCK (prlimit's syntax: "8388608", "unlimited"), as a login session would set it.
 */
export async function startWeb(s: Sandbox, args: string[] = [], opts: { memlock?: string } = {}): Promise<WebProcess> {
  const argv = [process.execPath, VMDESK, 'web', ...args];
  if (opts.memlock) argv.unshift('prlimit', `--memlock=${opts.memlock}:${opts.memlock}`, '--');
  const child = spawn(argv[0]!, argv.slice(1), { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  s.track(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/\S+#token=\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('exit', (code) => reject(new Error(`vmdesk web exited (${code}): ${err}${out}`)));
  });
  return {
    child,
    url,
    port: Number(new URL(url).port),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Saves a screenshot as a test artifact (CI keeps artifacts/). */
export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** A screenshot of one part of the page (a card, a dialog, the sidebar), as a test artifact. */
export async function shotOf(part: Locator, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await part.scrollIntoViewIfNeeded();
  await part.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

/**
 * A fresh Chromium page on `url` (1280×800). `defer` receives the cleanups: closing the browser,
 * and failing the test if the page threw any uncaught error meanwhile.
 */
export async function openPage(url: string, defer: (cleanup: () => Promise<void> | void) => void): Promise<Page> {
  const browser = await launchChromium();
  defer(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  defer(() => expect(errors).toEqual([]));
  await page.goto(url);
  return page;
}
