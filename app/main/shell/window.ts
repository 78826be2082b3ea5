/** The window and what it may do (the rules are in window-policy.ts; this applies them). */
import fs from 'node:fs';
import { BrowserWindow, protocol, shell, type Session } from 'electron';
import { APP_SCHEME } from './channels.js';
import { appResponse, isExternalWebUrl, isPermissionAllowed, navigationDecision } from './window-policy.js';
import { MIN_SIZE, type Rect } from './window-state.js';

/** MUST run before app `ready`: a standard, secure scheme gets a real origin, `'self'`, fetch and ES modules. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

/** Serves the built renderer on app:// (after `ready`). */
export function serveApp(rendererDir: string): void {
  const realRoot = fs.realpathSync(rendererDir);
  protocol.handle(APP_SCHEME, (req) => appResponse(realRoot, req));
}

export function applySessionPolicy(
  ses: Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>,
): void {
  ses.setPermissionRequestHandler((_wc, permission, grant, details) =>
    grant(isPermissionAllowed(permission, details.requestingUrl)),
  );
  ses.setPermissionCheckHandler((_wc, permission, origin) => isPermissionAllowed(permission, origin));
}

export function createMainWindow(o: {
  preload: string;
  bounds: Rect | { width: number; height: number };
  icon?: string;
}): BrowserWindow {
  const win = new BrowserWindow({
    ...o.bounds,
    minWidth: MIN_SIZE.width,
    minHeight: MIN_SIZE.height,
    show: false,
    title: 'vmdesk',
    ...(o.icon ? { icon: o.icon } : {}),
    webPreferences: {
      preload: o.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  const wc = win.webContents;
  const onNavigate = (e: { url: string; preventDefault(): void }) => {
    const d = navigationDecision(e.url);
    if (d === 'allow') return;
    e.preventDefault();
    if (d === 'external') void shell.openExternal(e.url);
  };
  wc.on('will-navigate', onNavigate);
  wc.on('will-redirect', onNavigate);
  wc.on('will-attach-webview', (e) => e.preventDefault());
  wc.setWindowOpenHandler(({ url }) => {
    if (isExternalWebUrl(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  return win;
}
